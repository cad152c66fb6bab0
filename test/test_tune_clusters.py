"""`mots tune --outputs` (thesis 6.2.4): clustering and linking searched on saved network outputs. The outputs are
made from the ground truth (class maps, one embedding per object plus noise), with pedestrians smaller than the
thesis's default min_cluster_size of 650 pixels, so the defaults miss them and a search must find a smaller one."""
from dataclasses import replace

import numpy as np
import pytest

from helpers import box, make_seq
from mots_ros.cli import main
from mots_ros.data import formats
from mots_ros.models.pixel_embedding.outputs import FrameOutputs, load_outputs, save_outputs
from mots_ros.tracking.cluster import ClassClustering, ClusterConfig, dump_cluster_config, load_cluster_config
from mots_ros.tracking.config import ClassParams, TrackerConfig, dump_tracker_config, load_tracker_config
from mots_ros.tracking.tune import score
from mots_ros.tracking.tune_clusters import (GROUP, choose, detections, load_outputs_data, sample_clusterings,
                                             tune_clusters)

H, W, STRIDE, FRAMES, DIM = 64, 96, 4, 8, 4


def objects(t: int) -> dict[int, np.ndarray]:
    """Two cars (16x24 = 384 px) and a pedestrian (24x12 = 288 px) moving right."""
    return {1001: box(H, W, 4, 2 + 2 * t, 20, 26 + 2 * t), 1002: box(H, W, 40, 60 - t, 56, 84 - t),
            2001: box(H, W, 30, 30 + 3 * t, 54, 42 + 3 * t)}


def frame_outputs(t: int, rng: np.random.Generator, base: dict) -> FrameOutputs:
    """Outputs at stride 4 that sample the ground truth at output pixel centres."""
    centres = np.arange(STRIDE // 2, H, STRIDE)[:, None], np.arange(STRIDE // 2, W, STRIDE)[None, :]
    probs = np.zeros((3, H // STRIDE, W // STRIDE), np.float32)
    probs[0] = 0.9
    embeddings = rng.normal(0, 0.2, (DIM, H // STRIDE, W // STRIDE)).astype(np.float32)
    for k, mask in objects(t).items():
        on = mask[centres]
        probs[:, on] = 0.05
        probs[k // 1000, on] = 0.9
        embeddings[:, on] += base[k][:, None]
    return FrameOutputs(t, t, H, W, (H, W), STRIDE, probs, embeddings)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune_clusters")
    rng = np.random.default_rng(0)
    (root / "gt").mkdir()
    (root / "out").mkdir()
    seqmap = {}
    for s in ("0000", "0001"):
        base = {k: rng.normal(0, 6, DIM).astype(np.float32) for k in objects(0)}
        formats.write_txt(make_seq([(t, k, m) for t in range(FRAMES) for k, m in objects(t).items()], s),
                          root / "gt" / f"{s}.txt")
        save_outputs(str(root / "out" / f"{s}.npz"), [frame_outputs(t, rng, base) for t in range(FRAMES)])
        seqmap[s] = (0, FRAMES - 1)
    formats.write_seqmap(seqmap, root / "train.seqmap")
    return root


def test_outputs_round_trip(data):
    frames = load_outputs(str(data / "out" / "0000.npz"))
    assert [f.frame for f in frames] == list(range(FRAMES)) and frames[0].resized == (H, W)
    assert frames[0].probs.shape == (3, 16, 24) and frames[0].embeddings.dtype == np.float32


def test_clustering_trials_start_at_the_thesis_defaults(tmp_path):
    trials = sample_clusterings(200, seed=3)
    assert trials[0] == ClusterConfig() and trials == sample_clusterings(200, seed=3)
    assert all(2 <= t.car.min_samples <= 40 and 50 <= t.pedestrian.min_cluster_size <= 3000 for t in trials)
    assert {t.upsampling for t in trials} == {"nearest", "bilinear"}
    eps = [getattr(t, c).selection_epsilon for t in trials[1:] for c in ("car", "pedestrian")]
    assert 0.3 < eps.count(0.0) / len(eps) < 0.7 and all(e == 0 or 0.25 <= e <= 8 for e in eps) and max(eps) > 4
    scales = [t.position_scale for t in trials[1:]]
    assert 0.0 in scales and all(s == 0 or 1 <= s <= 128 for s in scales) and max(scales) > 32
    common = [(t.position_scale, t.upsampling, t.single_cluster) for t in trials]
    for g in range(0, 200, GROUP):  # a group shares the common parameters, draws its own per-class ones
        cars = [(t.car.min_samples, t.car.min_cluster_size) for t in trials[g:g + GROUP]]
        assert len(set(common[g:g + GROUP])) == 1 and len(set(cars)) == len(cars)
    # --subsample: the same draws, every trial clustering with it, and a tuned file keeps it
    halved = sample_clusterings(200, seed=3, subsample=2)
    assert [replace(t, subsample=1) for t in halved] == trials and {t.subsample for t in halved} == {2}
    (tmp_path / "tuned.yaml").write_text(dump_cluster_config(halved[5]))
    assert load_cluster_config(str(tmp_path / "tuned.yaml")) == halved[5]
    # a class's own step (--subsample 2 pedestrian=1): the same draws, and every trial keeps it
    own = sample_clusterings(200, seed=3, subsample=2, class_subsample={"pedestrian": 1})
    assert {(t.car.subsample, t.pedestrian.subsample) for t in own} == {(0, 1)}
    assert [replace(t, pedestrian=replace(t.pedestrian, subsample=0)) for t in own] == halved


def _result(car: float, ped: float) -> dict:
    """A trial's best linking per class: (its config, its scores), the config telling the trial apart."""
    return {c: (TrackerConfig("greedy", ClassParams(keep_alive=round(car)), ClassParams(keep_alive=round(ped)),
                              "clusters"), {"sMOTSA": v}) for c, v in (("car", car), ("pedestrian", ped))}


def test_each_class_takes_its_best_trial_of_the_winning_group():
    trials = sample_clusterings(2 * GROUP, seed=1)
    # group 0: car best in trial 1 (50), pedestrian best in trial 2 (40): 90 together, although no single trial
    # of it beats trial 5's 70 + 10 = 80; group 1's best pair is 70 + 15 = 85
    scores = [(10, 10), (50, 5), (5, 40), (20, 20), (30, 15), (70, 10), (1, 1), (2, 2)]
    clustering, config = choose(trials, [_result(*s) for s in scores])
    assert clustering.car == trials[1].car and clustering.pedestrian == trials[2].pedestrian
    assert clustering.position_scale == trials[1].position_scale == trials[2].position_scale
    assert config.car.keep_alive == 50 and config.pedestrian.keep_alive == 40 and config.linker == "clusters"


def test_tuning_finds_clusters_the_defaults_miss(data, tmp_path):
    out, log = tmp_path / "tuned.yaml", tmp_path / "trials.csv"
    assert main(["tune", "--outputs", str(data / "out"), "--gt", str(data / "gt"), "--seqmap",
                 str(data / "train.seqmap"), "--cluster-trials", "20", "--trials", "20", "--jobs", "1",
                 "--out", str(out), "--log", str(log)]) == 0
    clustering, tracker = load_cluster_config(str(out)), load_tracker_config(out)
    assert tracker.linker == "clusters"
    assert clustering.pedestrian.min_cluster_size < 288  # the pedestrian's area: the default 650 misses it
    train = load_outputs_data(str(data / "out"), str(data / "gt"), str(data / "train.seqmap"))
    tuned = score(tracker, detections(train, clustering))
    default = score(tracker, detections(train, ClusterConfig()))
    assert default["pedestrian"]["combined"]["TP"] == 0
    ped, car = tuned["pedestrian"]["combined"], tuned["car"]["combined"]
    assert ped["TP"] == 2 * FRAMES and ped["IDS"] == 0 and ped["FP"] == 0, ped  # masks are coarse at stride 4
    assert ped["sMOTSA"] > 60 and car["sMOTSA"] > 70 and car["IDS"] == 0, car
    assert len(log.read_text().splitlines()) == 21  # header + a row per clustering trial


def test_cli_subsample_takes_a_class_step(data, tmp_path, capsys):
    argv = ["tune", "--outputs", str(data / "out"), "--gt", str(data / "gt"), "--seqmap", str(data / "train.seqmap"),
            "--cluster-trials", "2", "--trials", "2", "--jobs", "1"]
    out = tmp_path / "tuned.yaml"
    assert main([*argv, "--subsample", "2", "pedestrian=1", "--out", str(out)]) == 0
    clustering = load_cluster_config(str(out))
    assert (clustering.subsample, clustering.car.subsample, clustering.pedestrian.subsample) == (2, 0, 1)
    for bad, message in ((["2", "bike=1"], "expected CLASS=S after the shared step (CLASS: car, pedestrian), got "
                                           "'bike=1'"),
                         (["0"], "the shared step must be an integer >= 1, got '0'"),
                         (["2", "car=x"], "car must be an integer >= 1, got 'x'")):
        assert main([*argv, "--subsample", *bad, "--out", str(tmp_path / "bad.yaml")]) == 2
        assert f"--subsample: {message}" in capsys.readouterr().err


def test_images_make_every_trial_upsample_guided(data, tmp_path, capsys):
    from PIL import Image

    for s in ("0000", "0001"):
        (tmp_path / "images" / s).mkdir(parents=True)
        for t in range(FRAMES):
            Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(tmp_path / "images" / s / f"{t:06d}.png")
    argv = ["tune", "--outputs", str(data / "out"), "--gt", str(data / "gt"), "--seqmap", str(data / "train.seqmap"),
            "--cluster-trials", "2", "--trials", "2", "--jobs", "1"]
    assert main([*argv, "--images", str(tmp_path / "images"), "--out", str(tmp_path / "g.yaml")]) == 0
    assert load_cluster_config(str(tmp_path / "g.yaml")).upsampling == "guided"
    assert {t.upsampling for t in sample_clusterings(40, seed=3, upsampling="guided")} == {"guided"}
    assert main([*argv, "--start", str(tmp_path / "g.yaml"), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "g.yaml: guided upsampling needs the camera images of the outputs: give --images DIR" in \
        capsys.readouterr().err
    Image.fromarray(np.zeros((H, W + 1, 3), np.uint8)).save(tmp_path / "images" / "0001" / "000003.png")
    assert main([*argv, "--images", str(tmp_path / "images"), "--out", str(tmp_path / "z.yaml")]) == 2
    assert f"000003.png: image is {W + 1}x{H}, the outputs of frame 3 are {W}x{H}" in capsys.readouterr().err
    (tmp_path / "images" / "0001" / "000007.png").unlink()
    assert main([*argv, "--images", str(tmp_path / "images"), "--out", str(tmp_path / "y.yaml")]) == 2
    assert "images/0001: no image of frame 7" in capsys.readouterr().err


def test_tuning_is_deterministic(data):
    args = (str(data / "out"), str(data / "gt"), str(data / "train.seqmap"))
    a = tune_clusters(*args, cluster_trials=3, trials=4, jobs=1, seed=5, progress=False)
    b = tune_clusters(*args, cluster_trials=3, trials=4, jobs=2, seed=5, progress=False)
    assert a.clustering == b.clustering and a.config == b.config


def test_missing_outputs_file_is_named(data, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["tune", "--outputs", str(tmp_path / "empty"), "--gt", str(data / "gt"), "--seqmap",
                 str(data / "train.seqmap"), "--out", str(tmp_path / "t.yaml")]) == 2
    assert "no outputs 0000.npz for sequence 0000" in capsys.readouterr().err


def test_a_start_file_is_the_first_trial_of_clustering_and_linking(data, tmp_path, capsys):
    start = replace(ClusterConfig(position_scale=16.0, upsampling="bilinear"),
                    pedestrian=ClassClustering(4, 100), car=ClassClustering(6, 200))
    linking = TrackerConfig("greedy", ClassParams(keep_alive=3, detection_score_threshold=0.6),
                            ClassParams(keep_alive=7, association_threshold=2.5), "clusters")
    path = tmp_path / "start.yaml"
    path.write_text(dump_cluster_config(start) + dump_tracker_config(linking))
    trials = sample_clusterings(2 * GROUP, seed=4, subsample=2, start=start)
    assert trials[0] == replace(start, subsample=2)
    assert all((t.position_scale, t.upsampling) == (16.0, "bilinear") for t in trials[:GROUP])  # its group
    assert trials[GROUP:] == sample_clusterings(2 * GROUP, seed=4, subsample=2)[GROUP:]
    argv = ["tune", "--outputs", str(data / "out"), "--gt", str(data / "gt"), "--seqmap", str(data / "train.seqmap"),
            "--cluster-trials", "1", "--trials", "1", "--jobs", "1"]
    assert main([*argv, "--start", str(path), "--out", str(tmp_path / "a.yaml")]) == 0
    assert load_cluster_config(str(tmp_path / "a.yaml")) == start  # one trial: the start file's, unchanged
    tuned = load_tracker_config(tmp_path / "a.yaml")
    assert (tuned.car, tuned.pedestrian) == (linking.car, linking.pedestrian)
    assert main([*argv, "--out", str(tmp_path / "b.yaml")]) == 0
    assert load_cluster_config(str(tmp_path / "b.yaml")) == ClusterConfig()  # without: the thesis's defaults
    (tmp_path / "linking_only.yaml").write_text(dump_tracker_config(linking))
    assert main([*argv, "--start", str(tmp_path / "linking_only.yaml"), "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "linking_only.yaml: holds no inference_node clustering" in err and "Traceback" not in err
    (tmp_path / "centres.yaml").write_text(dump_cluster_config(replace(start, features="centre"))
                                          + dump_tracker_config(linking))
    assert main([*argv, "--start", str(tmp_path / "centres.yaml"), "--out", str(tmp_path / "e.yaml")]) == 2
    assert "centres.yaml: clusters features 'centre'" in capsys.readouterr().err  # these outputs hold no centres
    assert main([*argv, "--start", str(tmp_path / "centres.yaml"), "--features", "embedding", "--out",
                 str(tmp_path / "e.yaml")]) == 0  # pinned features replace the file's
    assert load_cluster_config(str(tmp_path / "e.yaml")).features == "embedding"
    assert main(["tune", "--detections", str(tmp_path), "--gt", str(data / "gt"), "--seqmap",
                 str(data / "train.seqmap"), "--start", str(path), "--out", str(tmp_path / "d.yaml")]) == 2
    assert "--start" in capsys.readouterr().err


def test_fixed_features_hold_in_every_trial():
    free = sample_clusterings(40, seed=2, centres=True)
    assert {t.features for t in free} == {"embedding", "centre", "both"}
    for features in ("centre", "both", "embedding"):
        pinned = sample_clusterings(40, seed=2, centres=True, features=features)
        assert {t.features for t in pinned} == {features}  # the defaults' trial included
        scales = {t.centre_scale for t in pinned[GROUP:]}
        assert scales == {ClusterConfig().centre_scale} if features == "embedding" else len(scales) > 1


def test_features_that_need_centre_votes_are_refused_without_them(data, tmp_path, capsys):
    argv = ["tune", "--gt", str(data / "gt"), "--seqmap", str(data / "train.seqmap"), "--out", str(tmp_path / "t.yaml")]
    assert main([*argv, "--outputs", str(data / "out"), "--features", "centre"]) == 2
    err = capsys.readouterr().err
    assert str(data / "out") in err and "centre votes" in err and "Traceback" not in err
    assert main([*argv, "--detections", str(tmp_path), "--features", "both"]) == 2
    assert "needs --outputs" in capsys.readouterr().err


def with_votes(outputs: FrameOutputs, t: int) -> FrameOutputs:
    """``outputs`` of frame t with exact votes for frame t - 1: each object's pixels vote for its centre (of mass of
    its output pixels) there, sure it existed; nothing existed before frame 0."""
    centres = np.arange(STRIDE // 2, H, STRIDE)[:, None], np.arange(STRIDE // 2, W, STRIDE)[None, :]
    rows, cols = np.mgrid[0:H // STRIDE, 0:W // STRIDE]
    past = np.zeros((3, H // STRIDE, W // STRIDE), np.float32)
    if t > 0:
        for k, mask in objects(t).items():
            on, before = mask[centres], objects(t - 1)[k][centres]
            past[0, on] = rows[before].mean() - rows[on]
            past[1, on] = cols[before].mean() - cols[on]
            past[2, on] = 1.0
    return replace(outputs, past=past)


def test_tuning_the_vote_linker_links_look_alike_objects_by_their_votes(data, tmp_path, capsys):
    """All objects share one embedding, so only positions tell them apart in a frame and only the votes across
    frames; `mots tune --linker votes` writes the vote linker, which tracks every object without an id switch."""
    rng = np.random.default_rng(1)
    same = {k: np.full(DIM, 3.0, np.float32) for k in objects(0)}
    (tmp_path / "out").mkdir()
    for s in ("0000", "0001"):
        save_outputs(str(tmp_path / "out" / f"{s}.npz"),
                     [with_votes(frame_outputs(t, rng, same), t) for t in range(FRAMES)])
    argv = ["tune", "--gt", str(data / "gt"), "--seqmap", str(data / "train.seqmap"), "--cluster-trials", "20",
            "--trials", "10", "--jobs", "1", "--linker", "votes"]
    assert main([*argv, "--outputs", str(data / "out"), "--out", str(tmp_path / "no.yaml")]) == 2
    err = capsys.readouterr().err
    assert str(data / "out") in err and "votes for previous frames" in err and "Traceback" not in err
    assert main([*argv, "--outputs", str(tmp_path / "out"), "--out", str(tmp_path / "tuned.yaml")]) == 0
    tuned = tmp_path / "tuned.yaml"
    clustering, tracker = load_cluster_config(str(tuned)), load_tracker_config(tuned)
    assert tracker.linker == "votes" and tracker.matching == "hungarian"
    train = load_outputs_data(str(tmp_path / "out"), str(data / "gt"), str(data / "train.seqmap"))
    result = score(tracker, detections(train, clustering))
    for c, n in (("car", 2), ("pedestrian", 1)):
        got = result[c]["combined"]
        assert got["TP"] == 2 * n * FRAMES and got["IDS"] == 0, (c, got)


def test_refine_finds_the_size_a_chosen_clustering_missed(data, tmp_path, capsys):
    """A pedestrian minimum of 450 pixels misses the 288-pixel pedestrians; --refine's grid (x 0.35 .. 1.4) finds
    a size below their area, keeps the cars' choice when no neighbour beats it, and never scores below the choice."""
    from mots_ros.tracking.tune_clusters import neighbours, refine

    chosen = ClusterConfig(pedestrian=ClassClustering(5, 450), car=ClassClustering(15, 250))
    grid = neighbours(chosen, "pedestrian")
    assert grid[0] == chosen and len(grid) == len(set(map(repr, grid))) == 35
    assert {g.pedestrian.min_cluster_size for g in grid} == {158, 225, 315, 450, 630} and \
        all(g.car == chosen.car for g in grid)
    train = load_outputs_data(str(data / "out"), str(data / "gt"), str(data / "train.seqmap"))
    linking = TrackerConfig("greedy", ClassParams(), ClassParams(), "clusters")
    refined = refine(train, chosen, linking, jobs=1, progress=False)
    assert refined.pedestrian.min_cluster_size < 288
    before, after = (score(linking, detections(train, c)) for c in (chosen, refined))
    assert before["pedestrian"]["combined"]["TP"] == 0 < after["pedestrian"]["combined"]["TP"]
    assert after["car"]["combined"]["sMOTSA"] >= before["car"]["combined"]["sMOTSA"]
    out = tmp_path / "tuned.yaml"
    assert main(["tune", "--outputs", str(data / "out"), "--gt", str(data / "gt"), "--seqmap",
                 str(data / "train.seqmap"), "--cluster-trials", "2", "--trials", "3", "--jobs", "2", "--refine",
                 "--out", str(out)]) == 0
    assert load_cluster_config(str(out)).pedestrian.min_cluster_size < 288
    assert main(["tune", "--detections", str(data / "out"), "--gt", str(data / "gt"), "--seqmap",
                 str(data / "train.seqmap"), "--refine", "--out", str(out)]) == 2
    assert "--refine searches around a chosen clustering: it needs --outputs" in capsys.readouterr().err
