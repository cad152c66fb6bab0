"""`mots ablate` (issue 13 §3): ablation files and their errors, variants as merged overrides, the CSV and box
plot values, a test-time ablation on a checkpoint's saved outputs, and a training-time ablation killed mid-way
that resumes without redoing its finished runs. CPU, tiny models."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from PIL import Image

from mots_ros.ablation.results import box_values, rows
from mots_ros.ablation.spec import load_ablation, merge, variant_config
from mots_ros.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACKER = os.path.join(REPO, "config", "tracker_clusters.yaml")
MODEL = dict(arch="pixel_embedding", backbone="mobilenet_v3_large", aspp_maps=16, decoder_maps=16, branch_maps=8,
             embedding_dim=4, samples=300, temporal_layers=1, min_size=64, max_size=96)
TRAIN = dict(window=2, steps=4, lr=2e-3, warmup_steps=0, checkpoint_every=2, log_every=1, workers=0,
             crop=[32, 48], scale=[1.0, 1.0])
SYNTH = {"sequences": 2, "frames": 4, "size": "64x96"}


def write(path, doc):
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


# ---------------------------------------------------------------------------------------------- the file

def test_overrides_merge_mapping_by_mapping_and_runs_take_their_seeds(tmp_path):
    base = {"model": {"a": 1, "b": {"c": 2, "d": 3}}, "train": {"steps": 5, "seed": 9}}
    assert merge(base, {"model": {"b": {"c": 7}}, "train": {"crop": [1, 2]}}) == \
        {"model": {"a": 1, "b": {"c": 7, "d": 3}}, "train": {"steps": 5, "seed": 9, "crop": [1, 2]}}
    assert base["model"]["b"]["c"] == 2  # unchanged
    write(tmp_path / "base.yaml", {**base, "tracker": "tracker.yaml"})
    spec = load_ablation(write(tmp_path / "abl.yaml", {
        "kind": "training", "base": "base.yaml", "runs": 3, "seed": 10, "tracker": TRACKER,
        "data": {"train": {"synth": SYNTH}, "heldout": {"synth": SYNTH}},
        "variants": {"default": None, "lambda 0.5": {"model": {"a": 0.5}}}}))
    assert spec.name == "abl" and list(spec.variants) == ["default", "lambda 0.5"] and spec.runs == 3
    run2 = variant_config(spec, "lambda 0.5", 2)
    assert run2["model"] == {"a": 0.5, "b": {"c": 2, "d": 3}} and run2["train"]["seed"] == 12
    assert run2["tracker"] == str(tmp_path / "tracker.yaml")  # the base's relative tracker, made absolute


@pytest.mark.parametrize("doc, needle", [
    ({"kind": "nope"}, "kind: training or test"),
    ({"kind": "test", "models": ["demo"], "data": {"heldout": {"synth": {}}}, "variants": {}}, "variants"),
    ({"kind": "test", "models": ["demo"], "data": {}, "variants": {"a": {}}}, "data needs heldout"),
    ({"kind": "test", "models": ["demo"], "data": {"heldout": {"synth": {}}}, "variants": {"a": {"model": {}}}},
     "variant 'a' may override clustering, tracker"),
    ({"kind": "test", "models": ["demo"], "data": {"heldout": {"synth": {}}}, "variants": {"a": {}}, "x": 1},
     "unknown key 'x'"),
    ({"kind": "training", "data": {"train": {"synth": {}}, "heldout": {"synth": {}}}, "variants": {"a": {}}},
     "needs base"),
    ({"kind": "training", "base": os.path.join(REPO, "config", "ablations", "pixel_finetune.yaml"),
      "tracker": "t.yaml", "data": {"train": {"synth": {}},
      "heldout": {"synth": {}}}, "variants": {"a": {"tune": {"feature": "centre"}}}},
     "variant 'a': tune takes cluster_trials, features, linker, start, subsample, trials"),
    ({"kind": "test", "models": ["nothing/*.pt"], "data": {"heldout": {"synth": {}}}, "variants": {"a": {}}},
     "matches no checkpoint"),
    ({"kind": "training", "base": os.path.join(REPO, "config", "ablations", "pixel_finetune.yaml"),
      "data": {"train": {"synth": {}}, "tune": {"synth": {}}, "heldout": {"synth": {}}},
      "tune": {"start": "no/tuned.yaml"}, "variants": {"a": {}}}, "tune start"),
    ({"kind": "training", "base": "missing.yaml", "tracker": "t.yaml", "data": {"train": {"synth": {}},
      "heldout": {"synth": {}}}, "variants": {"a": {}}}, "cannot read the base of"),
    ({"kind": "test", "models": ["demo"], "data": {"heldout": {"synth": {}}},
      "variants": {"a": {"clustering": {"position_scale": 3}}}}, "variant 'a': clustering.position_scale"),
])
def test_bad_ablation_files_are_errors_naming_the_file(tmp_path, capsys, doc, needle):
    path = write(tmp_path / "bad.yaml", doc)
    assert main(["ablate", "--config", path, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mots ablate: error: ") and path in err and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "data").exists()  # refused before any data was made


def test_shipped_ablation_files_load_and_their_variants_build():
    """Every file of config/ablations: a valid ablation whose training variants build their models (a misspelt
    model key would otherwise fail hours into a run)."""
    from mots_ros.models.pixel_embedding import build_pixel_embedding

    folder = os.path.join(REPO, "config", "ablations")
    files = sorted(f for f in os.listdir(folder) if f.startswith("fig"))
    assert "fig6_32_votes.yaml" in files
    for name in files:
        spec = load_ablation(os.path.join(folder, name))
        for variant in spec.variants if spec.kind == "training" else ():
            model = dict(variant_config(spec, variant, 0)["model"])
            assert model.pop("arch") == "pixel_embedding", (name, variant)
            build_pixel_embedding(**model)


def test_scoring_workers_take_sigterm_quietly():
    """The test-time scoring pool's workers do not inherit the ablation's SIGTERM handler, so the pool's terminate()
    at its end cannot make one print a KeyboardInterrupt traceback after a successful run."""
    from mots_ros.ablation.runner import _interrupted
    from mots_ros.ablation.testtime import worker_pool

    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        with worker_pool(1) as pool:
            assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------------------------- results

def _scores(car, ped, per_seq):
    return {"car": {"combined": {"sMOTSA": car}, "per_sequence": {s: {"sMOTSA": v} for s, v in per_seq.items()}},
            "pedestrian": {"combined": {"sMOTSA": ped}, "per_sequence": {}}}


def test_boxes_hold_the_runs_or_with_one_run_the_sequences():
    runs = [("a", "run0", "m", _scores(10.0, 1.0, {"0000": 5.0, "0001": 15.0})),
            ("a", "run1", "m", _scores(20.0, 2.0, {"0000": 6.0})),
            ("b", "run0", "m", _scores(30.0, 3.0, {}))]
    table = rows("x", runs)
    assert len(table) == 4 + 3 + 2  # per run: car combined + its sequences, pedestrian combined
    values, unit = box_values(table, ["a", "b"], "car")
    assert unit == "runs" and values[0].tolist() == [10.0, 20.0] and values[1].tolist() == [30.0]
    values, unit = box_values(rows("x", runs[:1]), ["a"], "car")
    assert unit == "held-out sequences" and values[0].tolist() == [5.0, 15.0]


# ---------------------------------------------------------------------------------------------- test-time

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, one_torch_thread):
    import torch

    from mots_ros.models.pixel_embedding import build_pixel_embedding
    from mots_ros.models.weights import save_checkpoint

    root = tmp_path_factory.mktemp("ablate_model")
    torch.manual_seed(0)
    net = build_pixel_embedding(**{k: v for k, v in MODEL.items() if k != "arch"})
    save_checkpoint(root / "model.pt", net)
    return root / "model.pt"


def test_test_time_variants_on_saved_outputs(tmp_path, tiny_checkpoint, capsys):
    path = write(tmp_path / "tt.yaml", {
        "kind": "test", "models": [str(tiny_checkpoint)], "tracker": TRACKER,
        "data": {"heldout": {"synth": {**SYNTH, "seed": 5}}},
        "variants": {"positions": {}, "no positions": {"clustering": {"position_scale": 0.0}},
                     "big clusters": {"clustering": {"car": {"min_cluster_size": 10 ** 6},
                                                     "pedestrian": {"min_cluster_size": 10 ** 6}}}}})
    out = tmp_path / "out"
    assert main(["ablate", "--config", path, "--out", str(out), "--jobs", "2", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "no positions" in printed and str(out / "tt.csv") in printed
    with open(out / "tt.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {r["variant"] for r in table} == {"positions", "no positions", "big clusters"}
    assert len(table) == 3 * 2 * 3  # variants x classes x (combined + 2 sequences)
    # clusters of a million pixels cannot form: no detections, so no true or false positives, MOTSA 0
    big = [r for r in table if r["variant"] == "big clusters"]
    assert all(float(r["MOTSA"]) == 0.0 for r in big if r["MOTSA"])
    for cls in ("car", "pedestrian"):
        assert Image.open(out / f"tt_{cls}.png").format == "PNG"
    scores = sorted(out.glob("runs/tt/*/m00/scores.json"))
    outputs = next(out.glob("models/m00/heldout-*/outputs"))
    assert len(scores) == 3 and len(list(outputs.glob("*.npz"))) == 2
    stamps = [p.stat().st_mtime_ns for p in [*scores, outputs]]
    assert main(["ablate", "--config", path, "--out", str(out), "--device", "cpu"]) == 0  # all finished: reused
    assert [p.stat().st_mtime_ns for p in [*scores, outputs]] == stamps


# ---------------------------------------------------------------------------------------------- training-time

def test_a_killed_training_ablation_resumes_without_redoing_finished_runs(tmp_path):
    base = write(tmp_path / "base.yaml", {"model": MODEL, "train": TRAIN})
    path = write(tmp_path / "tr.yaml", {
        "kind": "training", "base": base, "runs": 2, "seed": 0, "tracker": TRACKER,
        "data": {"train": {"synth": {**SYNTH, "seed": 1}}, "heldout": {"synth": {**SYNTH, "seed": 2}}},
        "variants": {"lr 2e-3": {}, "lr 1e-4": {"train": {"lr": 1e-4}}}})
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mots_ros.cli", "ablate", "--config", path, "--out", str(out), "--jobs", "1",
           "--device", "cpu"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("runs/tr/*/*/scores.json")):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)  # while the second run trains or is scored
    assert first.wait(60) != 0
    (finished,) = out.glob("runs/tr/*/*/scores.json")
    run = finished.parent
    stamps = {p: p.stat().st_mtime_ns for p in (finished, run / "model.pt", run / "logs" / "train.log")}
    assert not (run / "last.pt").exists()  # the optimizer state goes once model.pt is there
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # the finished run was not redone
    assert len(list(out.glob("runs/tr/*/*/scores.json"))) == 4
    with open(out / "tr.csv") as fh:
        table = list(csv.DictReader(fh))
    combined = [r for r in table if r["sequence"] == "all"]
    assert sorted({(r["variant"], r["run"]) for r in combined}) == \
        [("lr 1e-4", "run0"), ("lr 1e-4", "run1"), ("lr 2e-3", "run0"), ("lr 2e-3", "run1")]
    seeds = {yaml.safe_load((p.parent / "config.yaml").read_text())["train"]["seed"]
             for p in out.glob("runs/tr/lr_2e-3/*/scores.json")}
    assert seeds == {0, 1}


def test_a_training_equal_to_a_finished_one_is_linked_not_repeated(tmp_path):
    base = write(tmp_path / "base.yaml", {"model": MODEL, "train": TRAIN})
    data = {"train": {"synth": {**SYNTH, "seed": 1}}, "heldout": {"synth": {**SYNTH, "seed": 2}}}
    first = write(tmp_path / "first.yaml", {"kind": "training", "base": base, "runs": 1, "tracker": TRACKER,
                                            "data": data, "variants": {"default": {}}})
    second = write(tmp_path / "second.yaml", {"kind": "training", "base": base, "runs": 1, "tracker": TRACKER,
                                              "data": data, "variants": {"baseline": {},
                                                                         "lr 1e-4": {"train": {"lr": 1e-4}}}})
    out = tmp_path / "out"
    for path in (first, second):
        assert main(["ablate", "--config", path, "--out", str(out), "--jobs", "1", "--device", "cpu"]) == 0
    trained = out / "runs" / "first" / "default" / "run0" / "model.pt"
    linked = out / "runs" / "second" / "baseline" / "run0" / "model.pt"
    other = out / "runs" / "second" / "lr_1e-4" / "run0" / "model.pt"
    assert linked.is_symlink() and linked.resolve() == trained.resolve()
    assert "not trained again" in (linked.parent / "logs" / "train.log").read_text()
    assert not trained.is_symlink() and not other.is_symlink()  # another lr is another training
    assert len(list((out / "trained").glob("*.json"))) == 2
    assert (linked.parent / "scores.json").exists()
    trained.unlink()  # the earlier model gone: an equal run trains again
    (out / "runs" / "first" / "default" / "run0" / "scores.json").unlink()
    assert main(["ablate", "--config", first, "--out", str(out), "--jobs", "1", "--device", "cpu"]) == 0
    assert trained.exists() and not trained.is_symlink()


def test_the_training_key_holds_the_config_the_start_weights_and_the_data(tmp_path):
    from mots_ros.ablation.training import training_key

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"weights a")
    b.write_bytes(b"weights b")
    split = ("out/data/train-1/images", "gt", str(tmp_path / "out/data/train-1/all.seqmap"))
    config = {"model": {"x": 1}, "train": {"seed": 0}}
    key = training_key(config, str(a), split, str(tmp_path / "out"))
    assert key == training_key({"train": {"seed": 0}, "model": {"x": 1}}, str(a), split, str(tmp_path / "out"))
    assert key != training_key({**config, "train": {"seed": 1}}, str(a), split, str(tmp_path / "out"))
    assert key != training_key(config, str(b), split, str(tmp_path / "out"))
    assert key != training_key(config, None, split, str(tmp_path / "out"))
    assert key != training_key(config, str(a), split[:2] + (str(tmp_path / "out/data/train-2/all.seqmap"),),
                               str(tmp_path / "out"))


def test_the_tuning_starts_from_the_file_the_ablation_names(tmp_path, monkeypatch):
    from mots_ros.ablation import training
    from mots_ros.engine.build import demo_files

    base = write(tmp_path / "base.yaml", {"model": MODEL, "train": TRAIN})
    data = {"train": {"synth": SYNTH}, "tune": {"synth": SYNTH}, "heldout": {"synth": SYNTH}}
    (tmp_path / "tuned").mkdir()
    (tmp_path / "tuned" / "start.yaml").write_text(open(demo_files("pixel_embedding")[1]).read())
    spec = load_ablation(write(tmp_path / "abl.yaml", {
        "kind": "training", "base": base, "data": data, "tune": {"start": "demo", "cluster_trials": 2},
        "variants": {"from demo": {}, "from a file": {"tune": {"start": "tuned/start.yaml"}}, "plain": {
            "tune": {"start": None}}}}))
    calls = []

    def fake_mots(args, log, env):
        calls.append(args)
        if args[0] == "tune":
            open(args[args.index("--out") + 1], "w").close()
        else:
            os.makedirs(args[args.index("--save-outputs") + 1])
            os.makedirs(args[args.index("--out") + 1])

    monkeypatch.setattr(training, "mots", fake_mots)
    split = ("images", "gt", "all.seqmap")
    starts = {}
    for variant in spec.variants:
        folder = tmp_path / "runs" / variant
        folder.mkdir(parents=True)
        training.tracker_step(spec, variant, "model.pt", str(folder), split, [], {})
        tune = calls[-1]
        assert tune[0] == "tune" and tune[tune.index("--cluster-trials") + 1] == "2"
        starts[variant] = tune[tune.index("--start") + 1] if "--start" in tune else None
    assert starts == {"from demo": demo_files("pixel_embedding")[1],
                      "from a file": str(tmp_path / "tuned" / "start.yaml"), "plain": None}
