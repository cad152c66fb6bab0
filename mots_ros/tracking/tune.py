"""`mots tune`: random search for the tracker parameters (thesis 4.1: "individual random tuning with 1000 runs on
the training set"; Voigtlaender et al. 2019).

Each trial draws a matching mode and one :class:`ClassParams` per class, tracks every training sequence and
scores it in-process with :func:`mots_ros.eval.evaluate.evaluate_sequences`. Classes are tracked independently
(they meet only where the final disjoint-mask step resolves car-pedestrian overlaps),
so the car parameters are taken from the trial with the best car sMOTSA and the pedestrian parameters from the
trial with the best pedestrian sMOTSA; the matching mode is shared, so it is the one whose best car plus best
pedestrian sMOTSA is highest. Trials run in parallel (fork workers, a chunk of trials each) and the result
depends only on the seed.

Search space per class (``s`` = median embedding distance between different detections of a class in a frame,
so costs are in units of typical embedding distances):
detection_score_threshold ~ U(0.3, 0.99); new_track_score_threshold ~ U(detection_score_threshold, 0.99);
keep_alive ~ integer U{0..30}; reid_weight = 0 (p 0.2) or U(0, 1); mask_iou_weight = 0 (p 0.5) or s * U(0, 1);
box_center_weight = 0 (p 0.5) or s * U(0, 10) (centre distances are fractions of the image diagonal); at least one
weight is non-zero; association_threshold = s * log-uniform(0.01, 2). Floats are rounded to 4 significant digits.
"""
from __future__ import annotations

import contextlib
import csv
import math
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.spatial.distance import pdist
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.eval.evaluate import evaluate_sequences
from mots_ros.tracking.config import CLASSES, MATCHING, ClassParams, TrackerConfig, save_tracker_config
from mots_ros.tracking.detections_io import read_detections, tracks_to_sequence
from mots_ros.tracking.run import detection_files, track_sequence

SCORE_FIELDS = ("sMOTSA", "MOTSA", "MOTSP", "IDF1", "HOTA", "TP", "FP", "FN", "IDS")
_WORK: dict = {}  # the loaded data and trials, set before the workers fork


@dataclass
class TuneResult:
    """The chosen config, its scores on the training (and validation) sequences, and every trial."""

    config: TrackerConfig
    train: dict  # evaluate_sequences() layout
    val: dict | None
    trials: list[dict]  # one CSV row per trial


def load_data(det_dir: str, gt_dir: str, seqmap_path: str) -> dict[str, tuple]:
    """``{seq: (gt, detection frames inside the seqmap range, first, last)}`` for every sequence of the seqmap."""
    files = detection_files(det_dir)

    def read(seq: str) -> tuple[str, list]:
        if seq not in files:
            raise MotsError(f"{det_dir}: no detections {seq}.txt for sequence {seq} of {seqmap_path}")
        return files[seq], read_detections(files[seq])

    return load_with_gt(gt_dir, seqmap_path, read)


def load_with_gt(gt_dir: str, seqmap_path: str, read: Callable[[str], tuple[str, list]]) -> dict[str, tuple]:
    """``{seq: (gt, frames inside the seqmap range, first, last)}``; ``read(seq)`` gives (the file it read, its
    per-frame items with ``frame``, ``height`` and ``width``), whose image size must be the ground truth's."""
    data = {}
    for seq, (first, last) in formats.read_seqmap(seqmap_path).items():
        path, items = read(seq)
        gt = formats.load_sequence(gt_dir, seq)
        formats.check_frames(gt, first, last, seqmap_path)
        frames = [f for f in items if first <= f.frame <= last]
        if frames and gt.size and (frames[0].height, frames[0].width) != gt.size:
            raise MotsError(f"{path}: image size {frames[0].height}x{frames[0].width} differs from the "
                            f"ground truth's {gt.size[0]}x{gt.size[1]} ({gt.source})")
        data[seq] = (gt, frames, first, last)
    return data


def embedding_scale(data: dict[str, tuple], max_frames: int = 500) -> float:
    """Median distance between embeddings of different same-class detections of a frame (1.0 when none)."""
    dists = []
    for _, frames, _, _ in data.values():
        for f in frames[:max_frames]:
            for c in (formats.CAR, formats.PEDESTRIAN):
                e = f.embeddings[f.classes == c]
                if len(e) > 1 and e.shape[1]:
                    dists.append(pdist(e))
    d = np.concatenate(dists) if dists else np.zeros(0)
    scale = float(np.median(d)) if len(d) else 0.0
    return scale if scale > 0 else 1.0


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def sample_params(rng: np.random.Generator, scale: float) -> ClassParams:
    """One draw from the search space of the module docstring."""
    det = rng.uniform(0.3, 0.99)
    while True:
        reid = 0.0 if rng.random() < 0.2 else rng.uniform(0, 1)
        mask = 0.0 if rng.random() < 0.5 else scale * rng.uniform(0, 1)
        box = 0.0 if rng.random() < 0.5 else scale * rng.uniform(0, 10)
        if reid or mask or box:
            break
    return ClassParams(
        detection_score_threshold=_round(det), new_track_score_threshold=_round(rng.uniform(det, 0.99)),
        association_threshold=_round(scale * math.exp(rng.uniform(math.log(0.01), math.log(2)))),
        keep_alive=int(rng.integers(0, 31)), reid_weight=_round(reid), mask_iou_weight=_round(mask),
        box_center_weight=_round(box))


def sample_vote_params(rng: np.random.Generator) -> ClassParams:
    """One draw of the vote linker's parameters (thesis 6.3.2): the score thresholds as :func:`sample_params`,
    vote_distance_threshold log-uniform in [0.005, 0.2] of the image diagonal; the rest keep their defaults (the
    vote linker does not read them)."""
    det = rng.uniform(0.3, 0.99)
    return ClassParams(detection_score_threshold=_round(det), new_track_score_threshold=_round(rng.uniform(det, 0.99)),
                       vote_distance_threshold=_round(math.exp(rng.uniform(math.log(0.005), math.log(0.2)))))


def sample_vote_trials(n: int, seed: int) -> list[TrackerConfig]:
    """``n`` vote-linker trial configs, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [TrackerConfig("hungarian", sample_vote_params(rng), sample_vote_params(rng), "votes") for _ in range(n)]


def sample_trials(n: int, seed: int, scale: float) -> list[TrackerConfig]:
    """``n`` trial configs, the same for the same seed and scale."""
    rng = np.random.default_rng(seed)
    return [TrackerConfig(MATCHING[int(rng.integers(2))], sample_params(rng, scale), sample_params(rng, scale))
            for _ in range(n)]


def score(config: TrackerConfig, data: dict[str, tuple]) -> dict:
    """Track every sequence of ``data`` (see :func:`load_data`) and evaluate: ``evaluate_sequences`` layout."""
    pairs = {}
    for seq, (gt, frames, first, last) in data.items():
        res = tracks_to_sequence(seq, track_sequence(frames, config), kitti_ids=False)
        pairs[seq] = (gt, res, first, last)
    return evaluate_sequences(pairs)


def _run_chunk(chunk: list[int]) -> list[tuple[int, dict]]:
    """Worker: the combined per-class scores of the trials in ``chunk``."""
    out = []
    for i in chunk:
        res = score(_WORK["trials"][i], _WORK["data"])
        out.append((i, {c: {k: res[c]["combined"][k] for k in SCORE_FIELDS} for c in CLASSES}))
    return out


def _row(i: int, cfg: TrackerConfig, scores: dict) -> dict:
    row = {"trial": i, "matching": cfg.matching}
    for c in CLASSES:
        row.update({f"{c}.{k}": v for k, v in asdict(getattr(cfg, c)).items()})
    for c in CLASSES:
        row.update({f"{c}_{k}": scores[c][k] for k in SCORE_FIELDS})
    return row


def choose(trials: list[TrackerConfig], scores: list[dict]) -> TrackerConfig:
    """Best car and best pedestrian parameters (by that class's sMOTSA, ties to the earlier trial) within the
    matching mode whose two best add up highest."""
    best = None
    for mode in MATCHING:
        idx = [i for i, t in enumerate(trials) if t.matching == mode]
        if not idx:
            continue
        pick = {c: max(idx, key=lambda i: (scores[i][c]["sMOTSA"], -i)) for c in CLASSES}
        total = sum(scores[pick[c]][c]["sMOTSA"] for c in CLASSES)
        if best is None or total > best[0]:
            best = (total, TrackerConfig(mode, trials[pick["car"]].car, trials[pick["pedestrian"]].pedestrian))
    return best[1]


def tune(det_dir: str, gt_dir: str, seqmap: str, trials: int = 1000, jobs: int | None = None, seed: int = 0,
         out: str | None = None, val_seqmap: str | None = None, log: str | None = None,
         progress: bool = True) -> TuneResult:
    """Random search over the tracker parameters on the ``seqmap`` sequences; writes the best config to ``out``
    and every trial to the CSV ``log`` when given; scores the chosen config on ``val_seqmap`` when given."""
    if trials < 1:
        raise MotsError(f"--trials must be >= 1, got {trials}")
    data = load_data(det_dir, gt_dir, seqmap)
    configs = sample_trials(trials, seed, embedding_scale(data))
    jobs = max(1, min(jobs or os.cpu_count() or 1, trials))
    per_chunk = max(1, math.ceil(trials / (jobs * 8)))
    chunks = [list(range(i, min(i + per_chunk, trials))) for i in range(0, trials, per_chunk)]
    _WORK.update(data=data, trials=configs)
    results: list = [None] * trials
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else contextlib.nullcontext()
    try:
        with pool, tqdm(total=trials, desc="tune", unit="trial", disable=not progress) as bar:
            parts = pool.imap_unordered(_run_chunk, chunks) if jobs > 1 else map(_run_chunk, chunks)
            for part in parts:
                for i, s in part:
                    results[i] = s
                bar.update(len(part))
    finally:
        _WORK.clear()
    best = choose(configs, results)
    rows = [_row(i, cfg, s) for i, (cfg, s) in enumerate(zip(configs, results))]
    if out:
        save_tracker_config(best, out)
    if log:
        with open(log, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    train = score(best, data)
    val = score(best, load_data(det_dir, gt_dir, val_seqmap)) if val_seqmap else None
    return TuneResult(best, train, val, rows)


def summary(result: TuneResult) -> str:
    """The chosen parameters and their combined scores (percent) on train and, when scored, val."""
    lines = [f"matching: {result.config.matching}"]
    for c in CLASSES:
        p = getattr(result.config, c)
        lines.append(f"{c}: " + ", ".join(f"{f.name}={getattr(p, f.name)}" for f in fields(ClassParams)))
    for name, res in (("train", result.train), ("val", result.val)):
        if res is None:
            continue
        for c in CLASSES:
            r = res[c]["combined"]
            lines.append(f"{name} {c}: " + "  ".join(
                f"{k} {r[k]}" if isinstance(r[k], int) else f"{k} {r[k]:.1f}" for k in SCORE_FIELDS))
    return "\n".join(lines)
