"""CLEAR MOT on masks: MOTSA, sMOTSA, MOTSP, MOTSAL, IDS, Frag, MT/PT/ML (thesis eq. 2.3, 3.1-3.3).

Semantics of mots_tools, the official KITTI MOTS tool: a ground-truth mask matches the result mask with IoU
strictly above 0.5 (unique, masks being disjoint); an ID switch is counted when a ground-truth track is matched
to a different result id than the last one it was matched to; fragmentations and MT/PT/ML as in the KITTI
tracking devkit; unmatched results more than half inside an ignore region are neither TP nor FP.
"""
from __future__ import annotations

import math

import numpy as np

from mots_ros.eval.accumulate import SequenceClassData

COUNTS = ("TP", "FP", "FN", "IDS", "Frag", "MT", "PT", "ML", "GT_dets", "GT_tracks", "TR_dets", "TR_tracks",
          "TR_ignored", "frames")


def clear_counts(d: SequenceClassData) -> dict:
    """Counts of one sequence (sums over sequences give the combined counts)."""
    match = d.pair_iou > 0.5
    mg, mt, miou = d.pair_gt[match], d.pair_tr[match], d.pair_iou[match]
    tp = len(mg)
    n_gt, n_tr, n_ign = len(d.gt_id), len(d.tr_id), int(d.tr_ignored.sum())

    # result id matched to each gt detection (-1: missed), gt detections ordered by (track, frame)
    assigned = np.full(n_gt, -1, np.int64)
    assigned[mg] = d.tr_id[mt]
    order = np.lexsort((d.gt_frame, d.gt_id))
    track, g = d.gt_id[order], assigned[order]
    start = np.r_[True, track[1:] != track[:-1]] if n_gt else np.zeros(0, bool)
    starts = np.flatnonzero(start)
    lengths = np.diff(np.r_[starts, n_gt])
    track_index = np.cumsum(start) - 1
    pos = np.arange(n_gt) - starts[track_index]  # position inside the track
    is_last = pos == lengths[track_index] - 1

    # last matched result id strictly before each position inside the same track (-1 if none)
    hit = np.where(g != -1, np.arange(n_gt), -1)
    last_hit = np.maximum.accumulate(hit) if n_gt else hit
    prev_hit = np.r_[-1, last_hit[:-1]] if n_gt else hit
    prev_hit = np.where((prev_hit >= 0) & (prev_hit >= starts[track_index]), prev_hit, -1)
    last_before = np.where(prev_hit >= 0, g[np.maximum(prev_hit, 0)], -1)

    prev_g = np.r_[-1, g[:-1]] if n_gt else g
    next_g = np.r_[g[1:], -1] if n_gt else g
    inner = (pos >= 1) & ~is_last
    ids = int(np.sum((pos >= 1) & (g != -1) & (last_before != -1) & (g != last_before)))
    frag = int(np.sum(inner & (prev_g != g) & (last_before != -1) & (g != -1) & (next_g != -1)))
    frag += int(np.sum(is_last & (pos >= 1) & (prev_g != g) & (g != -1)))

    tracked = np.bincount(track_index, weights=(g != -1), minlength=len(starts)) if n_gt else np.zeros(0)
    ratio = tracked / np.maximum(lengths, 1)
    mt = int(np.sum(ratio > 0.8))
    ml = int(np.sum((tracked == 0) | (ratio < 0.2)))
    return {"TP": tp, "FP": n_tr - tp - n_ign, "FN": n_gt - tp, "IDS": ids, "Frag": frag,
            "MT": mt, "PT": len(starts) - mt - ml, "ML": ml, "GT_dets": n_gt, "GT_tracks": len(starts),
            "TR_dets": n_tr, "TR_tracks": len(np.unique(d.tr_id)), "TR_ignored": n_ign,
            "frames": d.num_frames, "iou_sum": float(miou.sum())}


def clear_scores(c: dict) -> dict:
    """Scores from (possibly summed) counts, as fractions.

    The formulas of mots_tools; where a denominator is zero (no ground truth or no match in a sequence),
    TrackEval's convention ``max(1, denominator)`` keeps every number defined.
    """
    n_gt, tp, fp, fn, ids = max(1, c["GT_dets"]), c["TP"], c["FP"], c["FN"], c["IDS"]  # n_gt = tp + fn
    return {
        "sMOTSA": (c["iou_sum"] - fp - ids) / n_gt,
        "MOTSA": (tp - fp - ids) / n_gt,
        "MOTSP": c["iou_sum"] / max(1, tp),
        "MOTSAL": (tp - fp - (math.log10(ids) if ids else 0)) / n_gt,
        "MODSA": (tp - fp) / n_gt,
        "Recall": tp / max(1, tp + fn),
        "Precision": tp / max(1, tp + fp),
    }
