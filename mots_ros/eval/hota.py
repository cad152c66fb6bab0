"""HOTA, DetA, AssA, LocA (Luiten et al. 2021), computed exactly as TrackEval, vectorised over frames.

Per frame, detections are matched by Hungarian assignment on global-alignment score x IoU; a frame whose
overlap pairs already form a one-to-one matching needs no assignment. The 19 thresholds alpha = 0.05..0.95
are then applied to the matched pairs at once.
"""
from __future__ import annotations

import numpy as np

from mots_ros.eval.accumulate import SequenceClassData

ALPHAS = np.arange(0.05, 0.99, 0.05)
EPS = np.finfo(float).eps
ARRAY_FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA")


def _match_pairs(d: SequenceClassData, score: np.ndarray) -> np.ndarray:
    """Indices of the pairs that TrackEval's per-frame Hungarian matching selects."""
    from scipy.optimize import linear_sum_assignment

    n_pairs = len(score)
    per_gt = np.bincount(d.pair_gt, minlength=len(d.gt_id))
    per_tr = np.bincount(d.pair_tr, minlength=len(d.tr_id))
    conflict = (per_gt[d.pair_gt] > 1) | (per_tr[d.pair_tr] > 1)
    chosen = ~conflict
    if conflict.any():
        frames = np.unique(d.gt_frame[d.pair_gt[conflict]])
        for f in frames:
            pidx = np.flatnonzero((d.gt_frame[d.pair_gt] == f))
            g_idx = np.flatnonzero(d.gt_frame == f)
            t_idx = np.flatnonzero(d.tr_frame == f)
            mat = np.zeros((len(g_idx), len(t_idx)))
            rows = np.searchsorted(g_idx, d.pair_gt[pidx])
            cols = np.searchsorted(t_idx, d.pair_tr[pidx])
            mat[rows, cols] = score[pidx]
            r, c = linear_sum_assignment(-mat)
            picked = np.zeros_like(mat, bool)
            picked[r, c] = True
            chosen[pidx] = picked[rows, cols]
    return np.flatnonzero(chosen) if n_pairs else np.zeros(0, np.int64)


def hota_counts(d: SequenceClassData) -> dict:
    """Per-alpha TP/FN/FP and association sums of one sequence (ignored results already removed)."""
    a = len(ALPHAS)
    res = {k: np.zeros(a) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP", "AssA", "AssRe", "AssPr", "LocA")}
    n_gt, n_tr = len(d.gt_id), len(d.tr_id)
    if n_tr == 0 or n_gt == 0:
        res["HOTA_FN"][:] = n_gt
        res["HOTA_FP"][:] = n_tr
        res["LocA"][:] = 1.0
        return _final(res)

    gu, g_track = np.unique(d.gt_id, return_inverse=True)
    tu, t_track = np.unique(d.tr_id, return_inverse=True)
    gt_count = np.bincount(g_track, minlength=len(gu)).astype(float)
    tr_count = np.bincount(t_track, minlength=len(tu)).astype(float)
    pg, pt, sim = d.pair_gt, d.pair_tr, d.pair_iou

    # global alignment score from the per-frame "soft IoU" of every overlapping pair
    row_sum = np.bincount(pg, weights=sim, minlength=n_gt)
    col_sum = np.bincount(pt, weights=sim, minlength=n_tr)
    denom = row_sum[pg] + col_sum[pt] - sim
    sim_iou = np.where(denom > EPS, sim / np.where(denom > EPS, denom, 1), 0.0)
    n_t = len(tu)
    key = g_track[pg] * n_t + t_track[pt]
    uk, inv = np.unique(key, return_inverse=True)
    potential = np.bincount(inv, weights=sim_iou, minlength=len(uk))
    kg, kt = uk // n_t, uk % n_t
    gas = potential / (gt_count[kg] + tr_count[kt] - potential)

    m = _match_pairs(d, gas[inv] * sim)
    m_sim, m_key = sim[m], inv[m]
    ok = m_sim[None, :] >= ALPHAS[:, None] - EPS  # (alphas, matched pairs)
    tp = ok.sum(axis=1).astype(float)
    res["HOTA_TP"] = tp
    res["HOTA_FN"] = n_gt - tp
    res["HOTA_FP"] = n_tr - tp
    res["LocA"] = np.maximum(1e-10, (ok * m_sim[None, :]).sum(axis=1)) / np.maximum(1e-10, tp)
    for i in range(a):
        mc = np.bincount(m_key[ok[i]], minlength=len(uk)).astype(float)
        gc, tc = gt_count[kg], tr_count[kt]
        res["AssA"][i] = np.sum(mc * mc / np.maximum(1, gc + tc - mc)) / max(1.0, tp[i])
        res["AssRe"][i] = np.sum(mc * mc / np.maximum(1, gc)) / max(1.0, tp[i])
        res["AssPr"][i] = np.sum(mc * mc / np.maximum(1, tc)) / max(1.0, tp[i])
    return _final(res)


def _final(res: dict) -> dict:
    tp, fn, fp = res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"]
    res["DetRe"] = tp / np.maximum(1, tp + fn)
    res["DetPr"] = tp / np.maximum(1, tp + fp)
    res["DetA"] = tp / np.maximum(1, tp + fn + fp)
    res["HOTA"] = np.sqrt(res["DetA"] * res["AssA"])
    return res


def combine_hota(parts: list[dict]) -> dict:
    """Combine sequences as TrackEval: sum counts, TP-weighted association and localisation."""
    res = {k: sum(p[k] for p in parts) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP")}
    for k in ("AssA", "AssRe", "AssPr"):
        res[k] = sum(p[k] * p["HOTA_TP"] for p in parts) / np.maximum(1.0, res["HOTA_TP"])
    res["LocA"] = np.maximum(1e-10, sum(p["LocA"] * p["HOTA_TP"] for p in parts)) / np.maximum(1e-10, res["HOTA_TP"])
    return _final(res)


def hota_scores(res: dict) -> dict:
    """Means over the alpha thresholds, as TrackEval reports them."""
    return {k: float(np.mean(res[k])) for k in ARRAY_FIELDS}
