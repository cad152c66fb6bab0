"""Result sets derived from ground truth by known perturbations, to check evaluators against each other.

Dropped masks, shifted and eroded masks, swapped and re-started ids, false positives in free space and
detections inside ignore regions. Output masks are disjoint (a later mask loses contested pixels) and no
(result, ground truth) pair has an IoU of exactly 0.5, where mots_tools (> 0.5) and TrackEval (>= 0.5) differ.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils

from mots_ros.data import rle as rle_ops
from mots_ros.data.formats import IGNORE, Sequence
from mots_ros.outputs import output_dir


@dataclass
class Perturbation:
    drop: float = 0.1  # probability to drop a mask
    shift: float = 0.2  # probability to shift a mask by 1..max_shift pixels
    max_shift: int = 8
    erode: float = 0.1  # probability to erode a mask by one pixel
    swap: float = 0.02  # per track: probability to swap ids with another track from a random frame on
    restart: float = 0.05  # per track: probability to continue under a new id from a random frame on
    false_positive: float = 0.1  # per frame: probability to add a copy of a mask at a free spot
    in_ignore: float = 0.3  # per frame with an ignore region: probability to add a detection inside it


def _erode(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[1:, :] &= m[:-1, :]
    out[:-1, :] &= m[1:, :]
    out[:, 1:] &= m[:, :-1]
    out[:, :-1] &= m[:, 1:]
    return out


def _shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(m)
    h, w = m.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = m[max(-dy, 0):h + min(-dy, 0),
                                                                   max(-dx, 0):w + min(-dx, 0)]
    return out


def _id_map(seq: Sequence, p: Perturbation, rng: np.random.Generator) -> dict[int, list[tuple[int, int]]]:
    """Per track: list of (from_frame, new_id) changes from swaps and restarts."""
    changes: dict[int, list[tuple[int, int]]] = {}
    tracks = [int(t) for t in np.unique(seq.ids[seq.classes != IGNORE])]
    next_inst = {c: 900 for c in (1, 2)}
    for t in tracks:
        frames = seq.frames[seq.ids == t]
        if rng.random() < p.restart and len(frames) > 2:
            c = t // 1000
            changes.setdefault(t, []).append((int(rng.choice(frames[1:])), c * 1000 + next_inst[c]))
            next_inst[c] += 1
        if rng.random() < p.swap:
            same = [u for u in tracks if u != t and u // 1000 == t // 1000]
            if same and len(frames) > 1:
                u = int(rng.choice(same))
                f = int(rng.choice(frames[1:]))
                changes.setdefault(t, []).append((f, u))
                changes.setdefault(u, []).append((f, t))
    return changes


def perturb(seq: Sequence, p: Perturbation | None = None, seed: int = 0) -> Sequence:
    """A perturbed copy of ground truth ``seq`` as a result sequence (no ignore objects)."""
    p = p or Perturbation()
    rng = np.random.default_rng(seed)
    changes = _id_map(seq, p, rng)
    frames, ids, classes, rles = [], [], [], []
    size = seq.size
    for frame, idx in seq.by_frame().items():
        h, w = size
        objs = [i for i in idx if seq.classes[i] != IGNORE]
        ign = [i for i in idx if seq.classes[i] == IGNORE]
        masks, new_ids = [], []
        if objs:
            stack = rle_ops.decode([seq.rles[i] for i in objs]).astype(bool)
        for k, i in enumerate(objs):
            if rng.random() < p.drop:
                continue
            m = stack[:, :, k]
            if rng.random() < p.shift:
                m = _shift(m, *rng.integers(-p.max_shift, p.max_shift + 1, 2))
            if rng.random() < p.erode:
                m = _erode(m)
            tid = int(seq.ids[i])
            for f0, new in sorted(changes.get(tid, [])):
                if frame >= f0:
                    tid = new
            masks.append(m)
            new_ids.append(tid)
        if objs and rng.random() < p.false_positive:  # a copy of a mask moved to free space
            k = int(rng.integers(len(objs)))
            m = _shift(stack[:, :, k], int(rng.integers(-h // 3, h // 3)), int(rng.integers(-w // 3, w // 3)))
            c = int(seq.classes[objs[k]])
            masks.append(m & ~stack.any(axis=2))
            new_ids.append(c * 1000 + 990 + int(rng.integers(5)))
        if ign and rng.random() < p.in_ignore:  # a detection lying in the ignore region
            m = rle_ops.decode([seq.rles[ign[0]]])[:, :, 0].astype(bool)
            masks.append(_erode(m))
            new_ids.append(int(rng.choice([1, 2])) * 1000 + 995 + int(rng.integers(5)))
        if not masks:
            continue
        # disjoint: earlier masks win (paint in reverse); an id that appears twice (swap collision) keeps its first
        first = {tid: k for k, tid in reversed(list(enumerate(new_ids)))}
        labels = np.zeros((h, w), np.int32)
        for k in reversed(range(len(masks))):
            if first[new_ids[k]] == k:
                labels[masks[k]] = new_ids[k]
        values, enc = rle_ops.from_label_map(labels)
        frames += [frame] * len(values)
        ids += values.tolist()
        classes += (values // 1000).tolist()
        rles += enc
    out = Sequence(seq.name, np.array(frames, np.int64), np.array(ids, np.int64), np.array(classes, np.int64),
                   rles, "")
    return _avoid_half_iou(seq, out)


def _avoid_half_iou(gt: Sequence, res: Sequence) -> Sequence:
    """Drop result masks whose IoU with a ground-truth mask is exactly 0.5 (rare)."""
    keep = np.ones(len(res), bool)
    g_groups = gt.by_frame()
    for frame, t_idx in res.by_frame().items():
        g_idx = g_groups.get(frame)
        if g_idx is None:
            continue
        iou = mask_utils.iou([res.rles[i] for i in t_idx], [gt.rles[i] for i in g_idx], np.zeros(len(g_idx)))
        keep[t_idx[np.any(np.abs(iou - 0.5) < 1e-9, axis=1)]] = False
    return res.subset(keep)


def perturb_dir(gt_dir: str, seqmap: str, out_dir: str, p: Perturbation | None = None, seed: int = 0) -> None:
    """Write a perturbed result txt per seqmap sequence of ``gt_dir`` to ``out_dir``."""
    from mots_ros.data import formats

    output_dir(out_dir, "results folder")
    for k, seq in enumerate(formats.read_seqmap(seqmap)):
        gt = formats.load_sequence(gt_dir, seq)
        formats.write_txt(perturb(gt, p, seed=seed * 1000 + k), os.path.join(out_dir, f"{seq}.txt"))
