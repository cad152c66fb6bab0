"""The TrackR-CNN tracker (thesis ch. 3; Voigtlaender et al. 2019): per-class association of
detections to tracks by embedding distance (plus optional mask-IoU and box-centre cues), then disjoint masks.

Per frame and class: detections scoring at least ``detection_score_threshold`` are matched to the tracks last
matched at most ``keep_alive`` frames ago by the cost::

    reid_weight * ||e_det - e_track|| + mask_iou_weight * (1 - IoU(mask_det, mask_track))
      + box_center_weight * |centre_det - centre_track| / image diagonal

(the track's embedding, mask and box are those of its last matched detection), with the Hungarian method or
greedily, a pair only when its cost is at most ``association_threshold``. Unmatched detections scoring at least
``new_track_score_threshold`` start new tracks. Masks of the output are then made disjoint: a pixel claimed by
several goes to the highest-scoring detection (thesis ch. 3). This runs on the RLE runs in one compiled call per
frame; no mask is decoded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pycocotools.mask as mask_utils
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from mots_ros import MotsError
from mots_ros.eval.rle_kernel import _parse_runs
from mots_ros.tracking.config import ClassParams, TrackerConfig
from mots_ros.tracking.types import FrameDetections, FrameTracks

CLASS_IDS = (1, 2)
_FORBIDDEN = 1e9  # Hungarian cost of a pair above the association threshold (as the original implementation)


# ------------------------------------------------------------------------------------------ disjoint masks

@numba.njit(cache=True, nogil=True)
def _subtract(a_s, a_e, la, run_s, run_e, b0, b1, out_s, out_e):
    """Runs of ``a`` (la runs) minus runs ``b0:b1``, into out; returns the number of runs."""
    k = 0
    j = b0
    for i in range(la):
        s, e = a_s[i], a_e[i]
        while j < b1 and run_e[j] <= s:
            j += 1
        t = j
        while t < b1 and run_s[t] < e and s < e:
            if run_s[t] > s:
                out_s[k] = s
                out_e[k] = run_s[t]
                k += 1
            if run_e[t] > s:
                s = run_e[t]
            t += 1
        if s < e:
            out_s[k] = s
            out_e[k] = e
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _put_count(x, buf, p):
    """Append one (delta-coded) count in pycocotools' ``rleToString`` LEB128-like code."""
    more = True
    while more:
        c = x & 0x1F
        x >>= 5
        more = (x != -1) if (c & 0x10) else (x != 0)
        if more:
            c |= 0x20
        buf[p] = c + 48
        p += 1
    return p


@numba.njit(cache=True, nogil=True)
def _encode_runs(run_s, run_e, k, total, buf, p):
    """Append the compressed RLE string of ``k`` foreground runs ``[s, e)`` (column-major pixel indices) of an
    image of ``total`` pixels at ``buf[p:]``, with the counts of pycocotools' ``rleEncode``; returns the end."""
    c2 = np.int64(0)  # the counts two back and one back (delta coding from the fourth count on)
    c1 = np.int64(0)
    pos = np.int64(0)
    for m in range(2 * k + 1):
        if m == 2 * k:
            x = total - pos
            if x == 0 and m > 0:
                break
        elif m % 2 == 0:
            x = run_s[m // 2] - pos
        else:
            x = run_e[m // 2] - run_s[m // 2]
        pos += x
        p = _put_count(x - c2 if m > 2 else x, buf, p)
        c2, c1 = c1, x
    return p


@numba.njit(cache=True, nogil=True)
def _disjoint(buf, starts, lengths, order, total):
    """Masks (compressed RLE strings) made disjoint in priority ``order``: each loses the pixels of masks before it.

    Returns per mask its new area and, for masks that lost pixels, the new string ``out[begin[i]:end[i]]``.
    """
    n = len(starts)
    run_ptr = np.empty(n + 1, np.int64)
    cap = len(buf) // 2 + n + 1  # a run needs at least two count characters
    run_s = np.empty(cap, np.int64)
    run_e = np.empty(cap, np.int64)
    _parse_runs(buf, starts, lengths, run_ptr, run_s, run_e)
    nruns = run_ptr[n]
    a_s, a_e = np.empty(nruns + 1, np.int64), np.empty(nruns + 1, np.int64)
    b_s, b_e = np.empty(nruns + 1, np.int64), np.empty(nruns + 1, np.int64)
    area = np.zeros(n, np.int64)
    begin = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    out = np.empty(16 * (nruns + n), np.uint8)
    p = 0
    for x in range(n):
        i = order[x]
        i0, i1 = run_ptr[i], run_ptr[i + 1]
        la = i1 - i0
        a_s[:la] = run_s[i0:i1]
        a_e[:la] = run_e[i0:i1]
        original = np.sum(a_e[:la] - a_s[:la])
        for y in range(x):
            j = order[y]
            j0, j1 = run_ptr[j], run_ptr[j + 1]
            if la == 0 or j0 == j1 or run_e[j1 - 1] <= a_s[0] or a_e[la - 1] <= run_s[j0]:
                continue
            la = _subtract(a_s, a_e, la, run_s, run_e, j0, j1, b_s, b_e)
            a_s, b_s = b_s, a_s
            a_e, b_e = b_e, a_e
        area[i] = np.sum(a_e[:la] - a_s[:la])
        if area[i] < original:
            need = p + 7 * (2 * la + 1)  # at most 7 characters per count
            if need > len(out):
                out = np.concatenate((out, np.empty(need + len(out), np.uint8)))
            begin[i] = p
            p = _encode_runs(a_s, a_e, la, total, out, p)
            end[i] = p
    return area, begin, end, out[:p]


def make_disjoint(masks: list[dict], scores: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Disjoint copies of RLE masks of one image: a pixel shared by several goes to the highest score (ties: the
    earlier mask). Returns the masks and their areas (0 = nothing left); unchanged masks are the same objects."""
    n = len(masks)
    if n == 0:
        return [], np.zeros(0, np.int64)
    counts = [m["counts"] for m in masks]
    lengths = np.fromiter(map(len, counts), np.int64, n)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    h, w = masks[0]["size"]
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable").astype(np.int64)
    area, begin, end, out = _disjoint(np.frombuffer(b"".join(counts), np.uint8), starts, lengths, order, h * w)
    result = list(masks)
    if end.any():
        data = out.tobytes()
        for i in np.flatnonzero(end):
            result[i] = {"size": [h, w], "counts": data[begin[i]:end[i]]}
    return result, area


# ------------------------------------------------------------------------------------------------ tracker

@dataclass
class _Tracks:
    """The live tracks of one class, columnar; embedding, box and mask are those of the last matched detection."""

    ids: np.ndarray  # (T,) int64
    embeddings: np.ndarray  # (T, D) float32
    boxes: np.ndarray  # (T, 4) float32
    masks: list
    last: np.ndarray  # (T,) frame of the last match
    start: np.ndarray  # (T,) frame of the first detection

    @staticmethod
    def empty(dim: int) -> "_Tracks":
        z = np.zeros(0, np.int64)
        return _Tracks(z, np.zeros((0, dim), np.float32), np.zeros((0, 4), np.float32), [], z.copy(), z.copy())

    def subset(self, keep: np.ndarray) -> "_Tracks":
        return _Tracks(self.ids[keep], self.embeddings[keep], self.boxes[keep],
                       [m for m, k in zip(self.masks, keep) if k], self.last[keep], self.start[keep])

    def append(self, ids: np.ndarray, det: FrameDetections, idx: np.ndarray) -> None:
        self.ids = np.concatenate([self.ids, ids])
        self.embeddings = np.concatenate([self.embeddings, det.embeddings[idx]])
        self.boxes = np.concatenate([self.boxes, det.boxes[idx]])
        self.masks += [det.masks[i] for i in idx]
        self.last = np.concatenate([self.last, np.full(len(idx), det.frame, np.int64)])
        self.start = np.concatenate([self.start, np.full(len(idx), det.frame, np.int64)])


def association_cost(det: FrameDetections, sel: np.ndarray, tracks: _Tracks, p: ClassParams) -> np.ndarray:
    """(detections ``sel``) x (tracks) cost matrix, vectorised; a cue with weight 0 is not computed."""
    cost = np.zeros((len(sel), len(tracks.ids)))
    if p.reid_weight:
        cost += p.reid_weight * cdist(det.embeddings[sel], tracks.embeddings)
    if p.mask_iou_weight:
        iou = mask_utils.iou([det.masks[i] for i in sel], tracks.masks, np.zeros(len(tracks.ids), np.uint8))
        cost += p.mask_iou_weight * (1.0 - iou)
    if p.box_center_weight:
        b, t = det.boxes[sel], tracks.boxes
        dist = cdist((b[:, :2] + b[:, 2:]) / 2, (t[:, :2] + t[:, 2:]) / 2)
        cost += p.box_center_weight / np.hypot(det.height, det.width) * dist
    return cost


def match(cost: np.ndarray, threshold: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the matched pairs, each with cost <= threshold.

    ``hungarian``: minimum total cost among the assignments with the most allowed pairs (pairs above the threshold
    cost a prohibitive constant, as in the original implementation). ``greedy``: the cheapest remaining pair
    first.
    """
    if method == "hungarian":
        allowed = cost <= threshold
        rows, cols = linear_sum_assignment(np.where(allowed, cost, _FORBIDDEN))
        ok = allowed[rows, cols]
        return rows[ok], cols[ok]
    flat = cost.ravel()
    order = np.argsort(flat, kind="stable")
    order = order[: np.searchsorted(flat[order], threshold, side="right")]
    n, m = cost.shape
    used_r, used_c = set(), set()
    rows, cols = [], []
    for r, c in zip((order // m).tolist(), (order % m).tolist()):
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            rows.append(r)
            cols.append(c)
            if len(rows) == min(n, m):
                break
    return np.array(rows, np.int64), np.array(cols, np.int64)


class Tracker:
    """The TrackR-CNN tracker: ``step`` once per frame (frame numbers increasing), ``reset`` between sequences.

    Track ids start at 1 and are unique per class (each class counts on its own, as KITTI MOTS instance ids).
    """

    def __init__(self, config: TrackerConfig):
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids restart at 1."""
        self._tracks: dict[int, _Tracks] = {}
        self._next_id = {c: 1 for c in CLASS_IDS}
        self._last_frame: int | None = None
        self._dim: int | None = None

    def step(self, det: FrameDetections) -> FrameTracks:
        """Associate the detections of the next frame; returns its tracked objects with disjoint masks."""
        if self._last_frame is not None and det.frame <= self._last_frame:
            raise MotsError(f"frame {det.frame} after frame {self._last_frame}: frames must increase "
                            f"(reset() the tracker for a new sequence)")
        dim = det.embeddings.shape[1]
        if self._dim is None:
            self._dim = dim
            self._tracks = {c: _Tracks.empty(dim) for c in CLASS_IDS}
        elif dim != self._dim:
            raise MotsError(f"frame {det.frame}: embedding dimension {dim}, the tracks have {self._dim}")
        self._last_frame = det.frame
        parts = [self._step_class(det, c, self.config.for_class(c)) for c in CLASS_IDS]
        idx = np.concatenate([q[0] for q in parts])
        ids = np.concatenate([q[1] for q in parts])
        ages = np.concatenate([q[2] for q in parts])
        masks, area = make_disjoint([det.masks[i] for i in idx], det.scores[idx])
        keep = area > 0
        if not keep.all():
            idx, ids, ages = idx[keep], ids[keep], ages[keep]
            masks = [m for m, k in zip(masks, keep) if k]
        return FrameTracks(det.frame, det.stamp, det.height, det.width, ids, det.classes[idx], det.scores[idx],
                           det.boxes[idx], masks, ages)

    def _step_class(self, det: FrameDetections, c: int, p: ClassParams):
        """(detection indices, track ids, ages) of the matched and new tracks of class ``c``."""
        # thresholds at float32 precision, so that a score written as 0.7 passes a threshold of 0.7
        sel = np.flatnonzero((det.classes == c) & (det.scores >= np.float32(p.detection_score_threshold)))
        tracks = self._tracks[c]
        alive = tracks.last >= det.frame - p.keep_alive - 1
        if not alive.all():
            tracks = self._tracks[c] = tracks.subset(alive)
        rows = cols = np.zeros(0, np.int64)
        if len(sel) and len(tracks.ids):
            rows, cols = match(association_cost(det, sel, tracks, p), p.association_threshold,
                               self.config.matching)
            d = sel[rows]
            tracks.embeddings[cols] = det.embeddings[d]
            tracks.boxes[cols] = det.boxes[d]
            tracks.last[cols] = det.frame
            for k, i in zip(cols.tolist(), d.tolist()):
                tracks.masks[k] = det.masks[i]
        unmatched = np.ones(len(sel), bool)
        unmatched[rows] = False
        new = sel[unmatched & (det.scores[sel] >= np.float32(p.new_track_score_threshold))]
        new_ids = np.arange(self._next_id[c], self._next_id[c] + len(new), dtype=np.int64)
        self._next_id[c] += len(new)
        matched_ids, matched_ages = tracks.ids[cols], det.frame - tracks.start[cols]
        tracks.append(new_ids, det, new)
        return (np.concatenate([sel[rows], new]), np.concatenate([matched_ids, new_ids]),
                np.concatenate([matched_ages, np.zeros(len(new), np.int64)]))
