"""Identity metrics IDF1, IDP, IDR (Ristani et al. 2016; thesis eq. 2.4), computed as TrackEval does.

A ground-truth and a result detection can be identity-matched when their mask IoU is >= 0.5; the one-to-one
track assignment maximising the number of such frames gives IDTP.
"""
from __future__ import annotations

import numpy as np

from mots_ros.eval.accumulate import SequenceClassData

EPS = np.finfo(float).eps


def identity_counts(d: SequenceClassData) -> dict:
    """IDTP, IDFN, IDFP of one sequence (ignored results already removed)."""
    from scipy.optimize import linear_sum_assignment

    n_gt, n_tr = len(d.gt_id), len(d.tr_id)
    ok = d.pair_iou >= 0.5 - EPS
    idtp = 0
    if ok.any():
        gu, gi = np.unique(d.gt_id[d.pair_gt[ok]], return_inverse=True)
        tu, ti = np.unique(d.tr_id[d.pair_tr[ok]], return_inverse=True)
        counts = np.zeros((len(gu), len(tu)))
        np.add.at(counts, (gi, ti), 1)
        rows, cols = linear_sum_assignment(counts, maximize=True)
        idtp = int(counts[rows, cols].sum())
    return {"IDTP": idtp, "IDFN": n_gt - idtp, "IDFP": n_tr - idtp}


def identity_scores(c: dict) -> dict:
    tp, fn, fp = c["IDTP"], c["IDFN"], c["IDFP"]
    return {"IDF1": tp / max(1.0, tp + 0.5 * fp + 0.5 * fn),
            "IDP": tp / max(1.0, tp + fp),
            "IDR": tp / max(1.0, tp + fn)}
