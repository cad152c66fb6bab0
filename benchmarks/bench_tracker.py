"""Tracker speed: ms per frame of `Tracker.step` with 30 detections (15 cars, 15 pedestrians) of KITTI-sized masks.

Masks come from the KITTI MOTS ground truth of sequence 0002 (375x1242; masks of other frames at their own places,
so they overlap as raw detector masks do and the disjoint step has work), or are generated when the data is absent.
Each detection carries a 128-d embedding: its object's vector plus noise, so tracks continue. Reported: best of
--repeat runs over --frames frames for Hungarian and greedy matching, with and without the mask-IoU cue, and the
ratio to the 2 ms per frame goal.

    .venv/bin/python benchmarks/bench_tracker.py [--data ../shared/data] [--frames 300] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL_MS = 2.0
PER_CLASS, DIM = 15, 128


def mask_pools(data: str, rng: np.random.Generator) -> tuple[list, list, tuple[int, int], str]:
    """Car and pedestrian RLE masks of KITTI MOTS 0002, or generated boxes and ellipses of that size."""
    from mots_ros.data import formats, rle

    path = Path(data) / "kitti_mots" / "instances_txt" / "0002.txt"
    if path.is_file():
        seq = formats.read_txt(path)
        pools = [[seq.rles[i] for i in np.flatnonzero(seq.classes == c)] for c in (formats.CAR, formats.PEDESTRIAN)]
        return pools[0], pools[1], seq.size, str(path)
    h, w = 375, 1242
    yy, xx = np.mgrid[:h, :w]
    pools = []
    for hh, ww in ((60, 120), (90, 35)):
        masks = []
        for _ in range(200):
            cy, cx = rng.integers(hh, h - hh), rng.integers(ww, w - ww)
            s = rng.uniform(0.4, 1.2)
            masks.append(((yy - cy) / (hh * s)) ** 2 + ((xx - cx) / (ww * s)) ** 2 <= 1)
        pools.append(rle.encode(np.stack(masks, axis=2)))
    return pools[0], pools[1], (h, w), "generated ellipses (KITTI MOTS not found)"


def make_frames(n_frames: int, cars: list, peds: list, size: tuple[int, int], rng: np.random.Generator):
    from mots_ros.data import rle
    from mots_ros.tracking.types import FrameDetections

    h, w = size
    base = rng.normal(size=(2 * PER_CLASS, DIM)).astype(np.float32)
    classes = np.repeat(np.array([1, 2], np.int64), PER_CLASS)
    frames = []
    for t in range(n_frames):
        masks = [cars[(7 * j + t) % len(cars)] for j in range(PER_CLASS)]
        masks += [peds[(11 * j + t) % len(peds)] for j in range(PER_CLASS)]
        xywh = rle.boxes(masks).astype(np.float32)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        emb = base + rng.normal(scale=0.05, size=base.shape).astype(np.float32)
        scores = rng.uniform(0.9, 1.0, 2 * PER_CLASS).astype(np.float32)
        frames.append(FrameDetections(t, t, h, w, boxes, scores, classes, masks, emb))
    return frames


def time_tracker(frames, config, repeat: int) -> float:
    """Best ms per frame over ``repeat`` passes (a fresh tracker each)."""
    from mots_ros.tracking.tracker import Tracker

    best = np.inf
    for _ in range(repeat):
        tracker = Tracker(config)
        t = time.perf_counter()
        for f in frames:
            tracker.step(f)
        best = min(best, (time.perf_counter() - t) / len(frames) * 1e3)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("MOTS_DATA", str(REPO.parent / "shared" / "data")),
                    help="folder holding kitti_mots/ (default $MOTS_DATA or ../shared/data)")
    ap.add_argument("--frames", type=int, default=300, help="frames per run (default 300)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per setting (default 5)")
    args = ap.parse_args()

    from mots_ros.data import rle
    from mots_ros.tracking.config import ClassParams, TrackerConfig
    from mots_ros.tracking.tracker import Tracker, disjoint_by_score

    rng = np.random.default_rng(0)
    cars, peds, size, source = mask_pools(args.data, rng)
    frames = make_frames(args.frames, cars, peds, size, rng)
    Tracker(TrackerConfig()).step(frames[0])  # compile (or load) the numba kernel outside the timing
    lost = [int((disjoint_by_score(f.masks, f.scores)[1] < rle.areas(f.masks)).sum()) for f in frames]
    print(f"{args.frames} frames of {2 * PER_CLASS} detections ({PER_CLASS} car, {PER_CLASS} pedestrian), "
          f"{size[0]}x{size[1]} masks from {source}, {DIM}-d embeddings; "
          f"{np.mean(lost):.1f} masks per frame lose pixels to a higher-scoring overlapping mask\n")
    print(f"{'matching':<10} {'mask-IoU cue':<13} {'ms/frame':>9} {'/ 2 ms goal':>12}")
    for matching in ("hungarian", "greedy"):
        for mask_w in (0.0, 1.0):
            p = ClassParams(detection_score_threshold=0.5, new_track_score_threshold=0.5,
                            association_threshold=2.0, keep_alive=5, reid_weight=1.0, mask_iou_weight=mask_w)
            cfg = TrackerConfig(matching, p, replace(p))
            ms = time_tracker(frames, cfg, args.repeat)
            print(f"{matching:<10} {'yes' if mask_w else 'no':<13} {ms:9.3f} {ms / GOAL_MS:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
