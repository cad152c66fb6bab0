"""Per-sequence, per-class accumulator: every mask overlap the metrics need, computed once on RLE.

One pycocotools ``iou`` call per frame gives the IoU of every result mask with every ground-truth mask and its
intersection-over-area with each ignore region (``iscrowd=1``). Everything later (CLEAR, Identity, HOTA, DR) is
vectorised numpy over the sparse list of overlapping (gt, result) pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils

from mots_ros.data import rle as rle_ops
from mots_ros.data.formats import IGNORE, Sequence


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


def accumulate(gt: Sequence, res: Sequence, first: int, last: int,
               classes: tuple[int, ...]) -> dict[int, SequenceClassData]:
    """Overlaps of ``res`` with ``gt`` for frames ``first..last``, split per class."""
    gt_groups, res_groups = gt.by_frame(), res.by_frame()
    gt_area, res_area = rle_ops.areas(gt.rles), rle_ops.areas(res.rles)
    is_ign = gt.classes == IGNORE
    res_keep = np.isin(res.classes, classes)
    empty = np.zeros(0, np.int64)
    pg, pt, piou, pinter = [], [], [], []
    ign_inter = np.zeros(len(res), np.int64)  # pixels of each result mask inside the ignore region
    for frame, t_idx in res_groups.items():
        g_all = gt_groups.get(frame, empty)
        t_idx = t_idx[res_keep[t_idx]]
        if len(g_all) == 0 or len(t_idx) == 0:
            continue
        ious = mask_utils.iou([res.rles[i] for i in t_idx], [gt.rles[i] for i in g_all],
                              is_ign[g_all].astype(np.uint8))
        ti, gi = np.nonzero(ious > 0)
        crowd = is_ign[g_all[gi]]
        # ignore columns hold intersection / result area; GT masks are disjoint, so intersections add up
        if crowd.any():
            t_c = t_idx[ti[crowd]]
            np.add.at(ign_inter, t_c, np.rint(ious[ti[crowd], gi[crowd]] * res_area[t_c]).astype(np.int64))
        ti, gi = ti[~crowd], gi[~crowd]
        t_o, g_o = t_idx[ti], g_all[gi]
        same = res.classes[t_o] == gt.classes[g_o]
        pt.append(t_o[same])
        pg.append(g_o[same])
        piou.append(ious[ti[same], gi[same]])
    pt = np.concatenate(pt) if pt else empty
    pg = np.concatenate(pg) if pg else empty
    piou = np.concatenate(piou) if piou else np.zeros(0)
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
        out[c] = SequenceClassData(
            num_frames=last - first + 1,
            gt_frame=gt.frames[g_sel], gt_id=gt.ids[g_sel], gt_area=gt_area[g_sel],
            tr_frame=res.frames[t_sel], tr_id=res.ids[t_sel], tr_area=res_area[t_sel], tr_ignored=ignored[t_sel],
            pair_gt=g_new[pg[keep]], pair_tr=t_new[pt[keep]], pair_iou=piou[keep], pair_inter=pinter[keep])
    return out
