"""Per-sequence, per-class accumulator: every mask overlap the metrics need, computed once on RLE.

One compiled pass per sequence (:mod:`mots_ros.data.rle_runs`) gives the IoU of every result mask with every ground-truth mask,
its intersection-over-area with the ignore region and the overlaps that make an input invalid. Everything later (CLEAR, Identity, HOTA, DR) is
vectorised numpy over the sparse list of overlapping (gt, result) pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mots_ros.data.formats import IGNORE, Sequence
from mots_ros.data.rle_runs import pair_intersections


@dataclass
class SequenceClassData:
    """Detections of one class in one sequence and their overlaps.

    Ground truth ``gt_*`` and results ``tr_*`` are per detection; ``pair_*`` lists every (gt, result) pair in the
    same frame with IoU > 0. ``tr_ignored`` marks result detections that match nothing (IoU <= 0.5) and lie more
    than half inside the frame's ignore region: neither TP nor FP (mots_tools), removed before Identity/HOTA
    (TrackEval).
    """

    num_frames: int
    gt_frame: np.ndarray
    gt_id: np.ndarray
    gt_area: np.ndarray
    tr_frame: np.ndarray
    tr_id: np.ndarray
    tr_area: np.ndarray
    tr_ignored: np.ndarray
    pair_gt: np.ndarray  # index into gt_*
    pair_tr: np.ndarray  # index into tr_*
    pair_iou: np.ndarray
    pair_inter: np.ndarray  # intersection in pixels

    def without_ignored(self) -> "SequenceClassData":
        """The same data with ignored result detections removed (TrackEval's preprocessing)."""
        if not self.tr_ignored.any():
            return self
        keep = ~self.tr_ignored
        new_index = np.cumsum(keep) - 1
        pk = keep[self.pair_tr]
        return SequenceClassData(self.num_frames, self.gt_frame, self.gt_id, self.gt_area,
                                 self.tr_frame[keep], self.tr_id[keep], self.tr_area[keep],
                                 np.zeros(int(keep.sum()), bool), self.pair_gt[pk], new_index[self.pair_tr[pk]],
                                 self.pair_iou[pk], self.pair_inter[pk])


def frame_overlaps(gt: Sequence, res: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every same-frame overlap as sparse ``(a, b, value)``: result x ground truth, and ground truth x ground
    truth and result x result with a < b (these make an input invalid).

    Objects are indexed ``0..len(gt)-1`` for ``gt`` and ``len(gt)+i`` for ``res``. ``value`` is the IoU, or for
    a ground-truth ignore object ``b`` the fraction of ``a``'s area inside it (pycocotools' ``iscrowd``).
    """
    n = len(gt)
    a, b, inter = pair_intersections([r["counts"] for r in gt.rles] + [r["counts"] for r in res.rles],
                                     np.concatenate([gt.frames, res.frames]))
    area = np.concatenate([gt.areas, res.areas])
    crowd = np.concatenate([gt.classes == IGNORE, np.zeros(len(res), bool)])
    cross = (a < n) & (b >= n)  # (gt, result) -> (result, gt)
    a, b = np.where(cross, b, a), np.where(cross, a, b)
    value = np.where(cross & crowd[b], inter / area[a], inter / (area[a] + area[b] - inter))
    return a, b, value


def overlapping_ids(seq: Sequence, a: np.ndarray, b: np.ndarray) -> list[tuple[int, int, int]]:
    """``(frame, id_a, id_b)`` for overlap entries between two objects of ``seq`` (indices into it)."""
    return [(int(seq.frames[i]), int(seq.ids[i]), int(seq.ids[j])) for i, j in zip(a, b)]


def accumulate(gt: Sequence, res: Sequence, first: int, last: int, classes: tuple[int, ...],
               overlaps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[int, SequenceClassData]:
    """Overlaps of ``res`` with ``gt`` for frames ``first..last``, split per class.

    ``overlaps`` is :func:`frame_overlaps` of the same two sequences when already computed.
    """
    a, b, v = overlaps if overlaps is not None else frame_overlaps(gt, res)
    n_gt = len(gt)
    gt_area, res_area = gt.areas, res.areas
    # result (row) against ground truth (column) entries
    sel = (a >= n_gt) & (b < n_gt)
    t_o, g_o, val = a[sel] - n_gt, b[sel], v[sel]
    crowd = gt.classes[g_o] == IGNORE
    # ignore objects are disjoint from each other, so the intersections with them add up
    ign_inter = np.bincount(t_o[crowd], weights=np.rint(val[crowd] * res_area[t_o[crowd]]), minlength=len(res))
    same = ~crowd & (res.classes[t_o] == gt.classes[g_o])
    pt, pg, piou = t_o[same], g_o[same], val[same]
    # intersection from IoU and areas: I = iou * (A + B) / (1 + iou), exact after rounding
    pinter = np.rint(piou * (gt_area[pg] + res_area[pt]) / (1 + piou)).astype(np.int64)
    matched = np.zeros(len(res), bool)
    matched[pt[piou > 0.5]] = True
    ignored = ~matched & (2 * ign_inter > res_area)

    out = {}
    for c in classes:
        g_sel = np.flatnonzero((gt.classes == c) & (gt.frames >= first) & (gt.frames <= last))
        t_sel = np.flatnonzero((res.classes == c) & (res.frames >= first) & (res.frames <= last))
        g_new = np.full(len(gt), -1)
        g_new[g_sel] = np.arange(len(g_sel))
        t_new = np.full(len(res), -1)
        t_new[t_sel] = np.arange(len(t_sel))
        keep = (g_new[pg] >= 0) & (t_new[pt] >= 0)
        order = np.lexsort((t_new[pt[keep]], g_new[pg[keep]]))
        out[c] = SequenceClassData(
            num_frames=last - first + 1,
            gt_frame=gt.frames[g_sel], gt_id=gt.ids[g_sel], gt_area=gt_area[g_sel],
            tr_frame=res.frames[t_sel], tr_id=res.ids[t_sel], tr_area=res_area[t_sel], tr_ignored=ignored[t_sel],
            pair_gt=g_new[pg[keep]][order], pair_tr=t_new[pt[keep]][order], pair_iou=piou[keep][order],
            pair_inter=pinter[keep][order])
    return out
