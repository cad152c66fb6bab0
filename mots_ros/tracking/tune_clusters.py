"""`mots tune --outputs`: random search for the clustering and linking parameters of a pixel-embedding model on
its saved per-frame network outputs (`mots run --save-outputs`; thesis 6.2.4, tuned as in 4.1), so the network
runs once for all trials.

Each clustering trial draws a :class:`~mots_ros.tracking.cluster.ClusterConfig` (trial 0 is the thesis's defaults),
clusters every frame once and runs the linking trials of :mod:`mots_ros.tracking.tune` (its search space, with the
cluster linker; or, for outputs with votes for previous frames, the vote linker's space of
:func:`~mots_ros.tracking.tune.sample_vote_trials`) on those detections. Classes are clustered and linked
independently, so each clustering trial keeps, per class, the linking parameters with the best sMOTSA. Position
scale, upsampling and the single-cluster rule are common to the classes: trials come in groups of :data:`GROUP` that
share them, and each class takes its best trial of a group, so a group of n trials tries n x n per-class pairs. The
group whose best car plus best pedestrian sMOTSA is highest is chosen, with those trials' linking parameters; the
chosen clustering is scored once more as a whole (exact for nearest upsampling; bilinear lets the classes' clusters
compete for boundary pixels). Clustering trials run in parallel (fork workers).

Clustering search space: position_scale = 0 (p 0.1) or log-uniform in [1, 128] (on held-out frames of the
first-stage demo weights, car sMOTSA rose from 2 at the default 8 to 35 at 32: their embeddings separate classes far
better than instances); upsampling nearest or bilinear (p 0.5); single_cluster (p 0.5); per class min_samples =
log-uniform integer in [2, 40], min_cluster_size = log-uniform integer in [50, 3000] image pixels and
selection_epsilon = 0 (p 0.5) or log-uniform in [0.25, 8] (drawn from a stream of its own, so the other values of a
seed's trials are those of the search without it). Outputs of a model with centre votes (thesis 6.3.1) add the
features (embedding, centre or both, p 1/3 each; Fig. 6.27) and centre_scale = log-uniform in [1, 128] to the common
parameters; the defaults' group keeps the embeddings. Fixed features (``--features``) hold in every trial, the
defaults' included, as does guided upsampling with ``--images`` (the camera images of the outputs;
:func:`~mots_ros.tracking.cluster.guided_labels`). ``--start FILE`` puts a tuned file's clustering in the place of
the defaults and its linking parameters in the first linking trial.

``--refine`` then searches around the choice, one class after the other with the chosen linking: the class's
min_cluster_size times each of :data:`REFINE_SIZES` with each of :data:`REFINE_EPSILONS` (a grid, where the random
search draws the two independently and rarely lands on a small size with a matching epsilon), the choice itself
kept unless a neighbour scores a higher sMOTSA of that class.
"""
from __future__ import annotations

import contextlib
import csv
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.tracking.cluster import (COMMON_FIELDS, FEATURES, ClassClustering, ClusterConfig, dump_cluster_config,
                                       is_count, load_cluster_config)
from mots_ros.tracking.config import CLASSES, TrackerConfig, dump_tracker_config, load_tracker_config
from mots_ros.tracking.tune import (SCORE_FIELDS, TuneResult, embedding_scale, load_with_gt, sample_trials,
                                    sample_vote_trials, score)

_WORK: dict = {}  # the loaded outputs and trials, set before the workers fork
REFINE_SIZES = (0.35, 0.5, 0.7, 1.0, 1.4)  # --refine: factors of the chosen min_cluster_size
REFINE_EPSILONS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # --refine: selection epsilons


@dataclass
class ClusterTuneResult(TuneResult):
    """:class:`~mots_ros.tracking.tune.TuneResult` with the chosen clustering."""

    clustering: ClusterConfig = None


def load_outputs_data(outputs_dir: str, gt_dir: str, seqmap_path: str,
                      images: str | None = None) -> dict[str, tuple]:
    """``{seq: (gt, outputs of the frames inside the seqmap range, first, last)}`` for every seqmap sequence; with
    ``images`` (IMAGES/SEQ/FRAME.png, as `mots run --images`) each frame's outputs know their camera image (guided
    upsampling reads it)."""
    from mots_ros.data.windows import list_frames
    from mots_ros.models.pixel_embedding.outputs import load_outputs

    def read(seq: str) -> tuple[str, list]:
        path = os.path.join(outputs_dir, f"{seq}.npz")
        if not os.path.isfile(path):
            raise MotsError(f"{outputs_dir}: no outputs {seq}.npz for sequence {seq} of {seqmap_path} (written by "
                            f"mots run --save-outputs)")
        frames = load_outputs(path)
        if images is not None:
            paths = list_frames(os.path.join(images, seq))
            for f in frames:
                if f.frame not in paths:
                    raise MotsError(f"{images}/{seq}: no image of frame {f.frame} (outputs {path})")
                f.image = paths[f.frame]
        return path, frames

    return load_with_gt(gt_dir, seqmap_path, read)


def _log_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


GROUP = 4  # clustering trials that share position scale, upsampling and the single-cluster rule


def _log_uniform(rng: np.random.Generator, high: float) -> float:
    return float(f"{math.exp(rng.uniform(0, math.log(high))):.4g}")


def _epsilon(rng: np.random.Generator) -> float:
    """A class's selection_epsilon: 0 (p 0.5) or log-uniform in [0.25, 8]."""
    return 0.0 if rng.random() < 0.5 else float(f"{0.25 * math.exp(rng.uniform(0, math.log(32))):.4g}")


def _common(rng: np.random.Generator, centres: bool, features: str | None = None) -> dict:
    """Random values of the :data:`~mots_ros.tracking.cluster.COMMON_FIELDS` (the module docstring's space);
    ``features`` fixes the features (the centre scale is drawn unless they are the embeddings)."""
    scale = 0.0 if rng.random() < 0.1 else _log_uniform(rng, 128)
    out = {"position_scale": scale, "upsampling": "bilinear" if rng.random() < 0.5 else "nearest",
           "single_cluster": bool(rng.random() < 0.5)}
    if features is not None:
        if features != "embedding":
            out.update(features=features, centre_scale=_log_uniform(rng, 128))
    elif centres:
        out.update(features=str(rng.choice(FEATURES)), centre_scale=_log_uniform(rng, 128))
    return out


def sample_clusterings(n: int, seed: int, subsample: int = 1, centres: bool = False,
                       features: str | None = None, start: ClusterConfig | None = None,
                       class_subsample: dict[str, int] | None = None,
                       upsampling: str | None = None) -> list[ClusterConfig]:
    """``n`` clustering trials (the module docstring's space), the same for a seed: groups of :data:`GROUP`
    consecutive trials share the parameters common to the classes and draw their own per-class ones; the first
    trial is ``start`` (default: the thesis's defaults), and its group shares its common parameters. All cluster
    with ``subsample``, a class in ``class_subsample`` with its own step; ``centres``: the outputs hold centre votes,
    which the features may use; ``features``: every trial clusters these (thesis Fig. 6.27 compares them);
    ``upsampling``: every trial upsamples so (None: drawn)."""
    rng, eps_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    steps = {c: (class_subsample or {}).get(c, 0) for c in CLASSES}
    default = replace(start or ClusterConfig(), subsample=subsample, features=features or
                      (start.features if start else "embedding"))
    default = replace(default, **{c: replace(getattr(default, c), subsample=steps[c]) for c in CLASSES})
    out = [default]
    for start in range(0, n, GROUP):
        common = {k: getattr(default, k) for k in COMMON_FIELDS} if start == 0 else _common(rng, centres, features)
        for _ in range(max(start, 1), min(start + GROUP, n)):
            car, ped = (ClassClustering(_log_int(rng, 2, 40), _log_int(rng, 50, 3000), _epsilon(eps_rng),
                                        steps[c]) for c in CLASSES)
            out.append(ClusterConfig(car, ped, **common, subsample=subsample))
    return out if upsampling is None else [replace(t, upsampling=upsampling) for t in out]


def detections(data: dict[str, tuple], clustering: ClusterConfig,
               classes: tuple[str, ...] = CLASSES) -> dict[str, tuple]:
    """``data`` with each sequence's outputs clustered into detections of ``classes`` (the layout of
    :func:`mots_ros.tracking.tune.load_data`)."""
    return {seq: (gt, [f.cluster(clustering, classes=classes) for f in frames], first, last)
            for seq, (gt, frames, first, last) in data.items()}


def linking_trials(dets: dict[str, tuple], trials: int, seed: int, linker: str = "clusters",
                   start: TrackerConfig | None = None) -> list[TrackerConfig]:
    """``trials`` configs of ``linker``: the cluster linker's or the vote linker's
    (:func:`~mots_ros.tracking.tune.sample_vote_trials`) search space, the first replaced by ``start``'s
    per-class parameters when given."""
    configs = sample_vote_trials(trials, seed) if linker == "votes" else \
        [replace(c, linker="clusters", matching="greedy") for c in sample_trials(trials, seed, embedding_scale(dets))]
    if start is not None:
        configs[0] = replace(configs[0], car=start.car, pedestrian=start.pedestrian)
    return configs


def best_linking(dets: dict[str, tuple], trials: int, seed: int, linker: str = "clusters",
                 start: TrackerConfig | None = None) -> dict[str, tuple[TrackerConfig, dict]]:
    """Per class, (the trial of :func:`linking_trials` with the best sMOTSA of that class, its scores of that
    class)."""
    configs = linking_trials(dets, trials, seed, linker, start)
    best: dict = {}
    for cfg in configs:
        res = score(cfg, dets)
        for c in CLASSES:
            scores = {k: res[c]["combined"][k] for k in SCORE_FIELDS}
            if c not in best or scores["sMOTSA"] > best[c][1]["sMOTSA"]:
                best[c] = (cfg, scores)
    return best


def _run_trial(i: int) -> tuple[int, dict]:
    """Worker: clustering trial ``i`` with its best linking per class."""
    dets = detections(_WORK["data"], _WORK["clusterings"][i])
    return i, best_linking(dets, _WORK["trials"], _WORK["seed"], _WORK["linker"], _WORK["start"])


def _parallel(worker, n: int, jobs: int, desc: str, progress: bool, **work) -> list:
    """``[worker(i)'s value for i in range(n)]``, run in ``jobs`` fork workers that find ``work`` in ``_WORK``
    (``worker`` returns ``(i, value)``), with a progress bar."""
    _WORK.update(work)
    results: list = [None] * n
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else contextlib.nullcontext()
    try:
        with pool, tqdm(total=n, desc=desc, unit="trial", disable=not progress) as bar:
            for i, value in pool.imap_unordered(worker, range(n)) if jobs > 1 else map(worker, range(n)):
                results[i] = value
                bar.update()
    finally:
        _WORK.clear()
    return results


def neighbours(clustering: ClusterConfig, cls: str) -> list[ClusterConfig]:
    """``clustering`` itself, then the --refine grid around it for class ``cls`` (the module docstring)."""
    own = getattr(clustering, cls)
    grid = [replace(own, min_cluster_size=max(1, round(own.min_cluster_size * f)), selection_epsilon=e)
            for f in REFINE_SIZES for e in REFINE_EPSILONS]
    return [clustering] + [replace(clustering, **{cls: c}) for c in grid if c != own]


def _score_class(i: int) -> tuple[int, float]:
    """Worker: the sMOTSA of class ``_WORK['class']`` with neighbour ``i`` and the chosen linking."""
    clustering = _WORK["neighbours"][i]
    # with nearest upsampling a class's masks do not depend on the other class's clusters: skip those
    classes = (_WORK["class"],) if clustering.upsampling == "nearest" else CLASSES
    dets = detections(_WORK["data"], clustering, classes)
    return i, score(_WORK["config"], dets)[_WORK["class"]]["combined"]["sMOTSA"]


def refine(data: dict[str, tuple], clustering: ClusterConfig, config: TrackerConfig, jobs: int,
           progress: bool = True) -> ClusterConfig:
    """``clustering`` improved class by class on the :func:`neighbours` grid, linking with ``config``."""
    for cls in CLASSES:
        candidates = neighbours(clustering, cls)
        scores = _parallel(_score_class, len(candidates), jobs, f"refine {cls}", progress, data=data,
                           neighbours=candidates, config=config, **{"class": cls})
        clustering = candidates[max(range(len(candidates)), key=lambda i: (scores[i], -i))]
    return clustering


def choose(clusterings: list[ClusterConfig], results: list[dict]) -> tuple[ClusterConfig, TrackerConfig]:
    """Per group of trials that share the common parameters, each class's best trial (its best linking's sMOTSA;
    a class's clusters depend only on its own parameters and the common ones); the group whose best car plus
    best pedestrian sMOTSA is highest wins (ties to the earlier group), combining the two trials' per-class
    clustering and linking parameters."""
    def best_of(group: range, c: str) -> int:
        return max(group, key=lambda j: (results[j][c][1]["sMOTSA"], -j))

    groups = [range(g, min(g + GROUP, len(results))) for g in range(0, len(results), GROUP)]
    picks = [{c: best_of(g, c) for c in CLASSES} for g in groups]
    k = max(range(len(groups)), key=lambda g: (sum(results[picks[g][c]][c][1]["sMOTSA"] for c in CLASSES), -g))
    car, ped = picks[k]["car"], picks[k]["pedestrian"]
    clustering = replace(clusterings[car], pedestrian=clusterings[ped].pedestrian)
    first = results[car]["car"][0]
    config = TrackerConfig(first.matching, first.car, results[ped]["pedestrian"][0].pedestrian, first.linker)
    return clustering, config


def _row(i: int, clustering: ClusterConfig, best: dict) -> dict:
    row = {"trial": i, **{k: getattr(clustering, k) for k in COMMON_FIELDS}}
    for c in CLASSES:
        row.update({f"{c}.{k}": v for k, v in asdict(getattr(clustering, c)).items()})
    for c in CLASSES:
        row.update({f"{c}.{k}": v for k, v in asdict(getattr(best[c][0], c)).items()})
        row.update({f"{c}_{k}": v for k, v in best[c][1].items()})
    return row


def clustering_summary(clustering: ClusterConfig) -> str:
    """One line: the chosen clustering parameters."""
    classes = ", ".join(f"{c} " + " ".join(f"{k}={v}" for k, v in asdict(getattr(clustering, c)).items())
                        for c in CLASSES)
    common = ", ".join(f"{k}={getattr(clustering, k)}" for k in COMMON_FIELDS)
    return f"clustering: {common}, subsample={clustering.subsample}, {classes}"


def _start(path: str | None, centres: bool, features: str | None) -> tuple[ClusterConfig | None,
                                                                          TrackerConfig | None]:
    """The clustering and linking parameters of the tracker file ``path`` (None, None without one); a file
    without clustering parameters, or clustering centres the outputs do not hold (unless ``features`` replace its
    features), is an error naming it."""
    if path is None:
        return None, None
    if not os.path.exists(path):
        raise MotsError(f"{path}: not found (--start)")
    clustering = load_cluster_config(path)
    if clustering is None:
        raise MotsError(f"{path}: holds no inference_node clustering parameters (--start needs a file of mots tune "
                        f"--outputs)")
    if (features or clustering.features) != "embedding" and not centres:
        raise MotsError(f"{path}: clusters features {clustering.features!r}, which need outputs with centre votes")
    return clustering, load_tracker_config(path)


def tune_clusters(outputs_dir: str, gt_dir: str, seqmap: str, cluster_trials: int = 40, trials: int = 100,
                  jobs: int | None = None, seed: int = 0, out: str | None = None, val_seqmap: str | None = None,
                  log: str | None = None, progress: bool = True, subsample: int = 1,
                  features: str | None = None, linker: str = "clusters", start: str | None = None,
                  refine_choice: bool = False, class_subsample: dict[str, int] | None = None,
                  images: str | None = None) -> ClusterTuneResult:
    """The search of the module docstring on the ``seqmap`` sequences of ``outputs_dir``; writes the chosen
    clustering (``/**/inference_node``) and linking (``/**/tracker_node``) to ``out`` and a CSV row per clustering
    trial to ``log`` when given; scores the choice on ``val_seqmap`` when given. ``subsample``: the clustering's
    (:class:`~mots_ros.tracking.cluster.ClusterConfig`), the same in every trial and in ``out``, as are the
    classes' own steps in ``class_subsample`` (e.g. ``{'pedestrian': 1}``); ``features``: the
    clustering features of every trial (None: the embeddings, or searched when the outputs hold centre votes);
    ``linker``: 'clusters' (representatives) or 'votes' (votes for previous frames, thesis 6.3.2); ``start``: a
    tracker file (e.g. the tuned file of the weights a model was fine-tuned from) whose clustering and linking
    parameters are the first trials, so the search can only improve on them (on the tuning sequences);
    ``refine_choice``: then :func:`refine` the chosen clustering (``--refine``); ``images``: the camera images of
    the outputs (IMAGES/SEQ/FRAME.png): every trial upsamples guided by them."""
    if cluster_trials < 1 or trials < 1:
        raise MotsError(f"--cluster-trials and --trials must be >= 1, got {cluster_trials} and {trials}")
    if not is_count(subsample):
        raise MotsError(f"--subsample must be an integer >= 1, got {subsample!r}")
    data = load_outputs_data(outputs_dir, gt_dir, seqmap, images)
    centres = all(f.offsets is not None for _, frames, _, _ in data.values() for f in frames)
    if features is not None and features not in FEATURES:
        raise MotsError(f"--features must be one of {', '.join(FEATURES)}, got {features!r}")
    if features not in (None, "embedding") and not centres:
        raise MotsError(f"{outputs_dir}: --features {features} needs outputs with centre votes (a model with "
                        f"centre_votes: true); these hold none")
    if linker not in ("clusters", "votes"):
        raise MotsError(f"--linker must be clusters or votes, got {linker!r}")
    if linker == "votes" and not all(f.past is not None for _, frames, _, _ in data.values() for f in frames):
        raise MotsError(f"{outputs_dir}: --linker votes needs outputs with votes for previous frames (a model with "
                        f"past_votes); these hold none")
    first_clustering, first_linking = _start(start, centres, features)
    if images is None and first_clustering is not None and first_clustering.upsampling == "guided":
        raise MotsError(f"{start}: guided upsampling needs the camera images of the outputs: give --images DIR")
    clusterings = sample_clusterings(cluster_trials, seed, subsample, centres, features, first_clustering,
                                     class_subsample, "guided" if images else None)
    jobs = max(1, min(jobs or os.cpu_count() or 1, cluster_trials))
    results = _parallel(_run_trial, cluster_trials, jobs, "tune clustering", progress, data=data,
                        clusterings=clusterings, trials=trials, seed=seed, linker=linker, start=first_linking)
    clustering, config = choose(clusterings, results)
    if refine_choice:
        clustering = refine(data, clustering, config, jobs, progress)
    if out:
        with open(out, "w") as fh:
            fh.write(dump_cluster_config(clustering) + dump_tracker_config(config))
    rows = [_row(i, c, r) for i, (c, r) in enumerate(zip(clusterings, results))]
    if log:
        with open(log, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    train = score(config, detections(data, clustering))
    val = score(config, detections(load_outputs_data(outputs_dir, gt_dir, val_seqmap, images), clustering)) \
        if val_seqmap else None
    return ClusterTuneResult(config, train, val, rows, clustering)
