"""Scores with diminishing returns R, P, F_DR (thesis section 5.2, eq. 5.1-5.5) on pixel level.

For a ground-truth track m whose overlapping result tracks are h_1..h_p by decreasing overlap,
R_m = 1/|m| * sum_i |h_i & m| / i; P_h swaps the roles; R = mean R_m, P = mean P_h, F_DR = 2RP/(R+P).
The size-weighted variant R' = sum_m sum_i |h_i & m| / i / sum_m |m| (and P' likewise) does not average out
track size and length. Per sequence we keep the sums, so that sequences combine by pooling all tracks.
"""
from __future__ import annotations

import numpy as np

from mots_ros.eval.accumulate import SequenceClassData


def _dr_sums(owner: np.ndarray, inter: np.ndarray, owner_area: np.ndarray) -> tuple[float, float, float, int]:
    """(sum of R_m, sum of R'_m numerators, sum of |m|, number of tracks) for one side.

    A track without pixels (only empty masks) is no track on pixel level and is left out.
    """
    n = len(owner_area)
    if not (owner_area > 0).any():
        return 0.0, 0.0, 0.0, 0
    order = np.lexsort((-inter, owner))
    owner, inter = owner[order], inter[order]
    first = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0)) if len(owner) else owner
    rank = np.arange(len(owner)) - group_start + 1
    weighted = np.bincount(owner, weights=inter / rank, minlength=n)
    real = owner_area > 0
    return (float(np.sum(weighted[real] / owner_area[real])), float(weighted.sum()), float(owner_area.sum()),
            int(real.sum()))


def dr_sums(d: SequenceClassData) -> dict:
    """Per-track sums of one sequence (ignored results already removed)."""
    gu, g_track = np.unique(d.gt_id, return_inverse=True)
    tu, t_track = np.unique(d.tr_id, return_inverse=True)
    g_area = np.bincount(g_track, weights=d.gt_area, minlength=len(gu))
    t_area = np.bincount(t_track, weights=d.tr_area, minlength=len(tu))
    pg, pt = g_track[d.pair_gt], t_track[d.pair_tr]
    # intersection per (gt track, result track) over all frames
    key = pg * max(len(tu), 1) + pt
    uk, inv = np.unique(key, return_inverse=True)
    inter = np.bincount(inv, weights=d.pair_inter, minlength=len(uk))
    kg, kt = uk // max(len(tu), 1), uk % max(len(tu), 1)
    r_sum, r_w, m_area, n_m = _dr_sums(kg, inter, g_area)
    p_sum, p_w, h_area, n_h = _dr_sums(kt, inter, t_area)
    return {"R_sum": r_sum, "R_w_sum": r_w, "gt_pixels": m_area, "gt_tracks": n_m,
            "P_sum": p_sum, "P_w_sum": p_w, "tr_pixels": h_area, "tr_tracks": n_h}


def _f(r: float, p: float) -> float:
    return 2 * r * p / (r + p) if r + p > 0 else 0.0


def dr_scores(c: dict) -> dict:
    r = c["R_sum"] / c["gt_tracks"] if c["gt_tracks"] else 0.0
    p = c["P_sum"] / c["tr_tracks"] if c["tr_tracks"] else 0.0
    rw = c["R_w_sum"] / c["gt_pixels"] if c["gt_pixels"] else 0.0
    pw = c["P_w_sum"] / c["tr_pixels"] if c["tr_pixels"] else 0.0
    return {"R_DR": r, "P_DR": p, "F_DR": _f(r, p), "R_DR_w": rw, "P_DR_w": pw, "F_DR_w": _f(rw, pw)}
