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
frame (:func:`mots_ros.data.rle_runs.make_disjoint`); no mask is decoded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from mots_ros import MotsError
from mots_ros.data.rle_runs import make_disjoint
from mots_ros.tracking.config import ClassParams, TrackerConfig
from mots_ros.tracking.types import FrameDetections, FrameTracks

CLASS_IDS = (1, 2)
_FORBIDDEN = 1e9  # Hungarian cost of a pair above the association threshold (as the original implementation)


def disjoint_by_score(masks: list[dict], scores: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Disjoint masks of one frame: a pixel shared by several goes to the highest score (ties: the earlier mask).
    Returns the masks and their areas (0 = nothing left)."""
    return make_disjoint(masks, np.argsort(-np.asarray(scores, np.float64), kind="stable"))


# ------------------------------------------------------------------------------------------------ tracker

@dataclass
class _Tracks:
    """The live tracks of one class, columnar; features (the tracker's :meth:`Tracker.features`: embeddings, or
    a linker's representatives), box and mask are those of the last matched detection."""

    ids: np.ndarray  # (T,) int64
    embeddings: np.ndarray  # (T, F) float32
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

    def append(self, ids: np.ndarray, det: FrameDetections, idx: np.ndarray, feats: np.ndarray) -> None:
        self.ids = np.concatenate([self.ids, ids])
        self.embeddings = np.concatenate([self.embeddings, feats[idx]])
        self.boxes = np.concatenate([self.boxes, det.boxes[idx]])
        self.masks += [det.masks[i] for i in idx]
        self.last = np.concatenate([self.last, np.full(len(idx), det.frame, np.int64)])
        self.start = np.concatenate([self.start, np.full(len(idx), det.frame, np.int64)])


def association_cost(det: FrameDetections, sel: np.ndarray, tracks: _Tracks, p: ClassParams,
                     feats: np.ndarray | None = None, distance=cdist) -> np.ndarray:
    """(detections ``sel``) x (tracks) cost matrix, vectorised; a cue with weight 0 is not computed. ``feats``
    (N, F): the detections' features (None: their embeddings), compared with the tracks' by ``distance``."""
    cost = np.zeros((len(sel), len(tracks.ids)))
    if p.reid_weight:
        feats = det.embeddings if feats is None else feats
        cost += p.reid_weight * distance(feats[sel], tracks.embeddings)
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

    @property
    def matching_method(self) -> str:
        """How detections are matched to tracks: the config's ``matching``."""
        return self.config.matching

    def features(self, det: FrameDetections) -> np.ndarray:
        """(N, F) what a track keeps of its last detection and compares by :meth:`distance`: the embeddings."""
        return det.embeddings

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(n, m) Euclidean distances between detection and track features."""
        return cdist(a, b)

    def step(self, det: FrameDetections) -> FrameTracks:
        """Associate the detections of the next frame; returns its tracked objects with disjoint masks."""
        if self._last_frame is not None and det.frame <= self._last_frame:
            raise MotsError(f"frame {det.frame} after frame {self._last_frame}: frames must increase "
                            f"(reset() the tracker for a new sequence)")
        feats = self.features(det)
        dim = feats.shape[1]
        if self._dim is None and len(det) == 0:  # the embedding size is not known before the first detection
            self._last_frame = det.frame
            return FrameTracks.empty(det.frame, det.stamp, det.height, det.width)
        if self._dim is None:
            self._dim = dim
            self._tracks = {c: _Tracks.empty(dim) for c in CLASS_IDS}
        elif dim != self._dim and len(det) == 0:
            feats = np.zeros((0, self._dim), np.float32)
        elif dim != self._dim:
            raise MotsError(f"frame {det.frame}: embedding dimension {dim}, the tracks have {self._dim}")
        self._last_frame = det.frame
        parts = [self._step_class(det, feats, c, self.config.for_class(c)) for c in CLASS_IDS]
        idx = np.concatenate([q[0] for q in parts])
        ids = np.concatenate([q[1] for q in parts])
        ages = np.concatenate([q[2] for q in parts])
        masks, area = disjoint_by_score([det.masks[i] for i in idx], det.scores[idx])
        keep = area > 0
        if not keep.all():
            idx, ids, ages = idx[keep], ids[keep], ages[keep]
            masks = [m for m, k in zip(masks, keep) if k]
        return FrameTracks(det.frame, det.stamp, det.height, det.width, ids, det.classes[idx], det.scores[idx],
                           det.boxes[idx], masks, ages)

    def _step_class(self, det: FrameDetections, feats: np.ndarray, c: int, p: ClassParams):
        """(detection indices, track ids, ages) of the matched and new tracks of class ``c``."""
        # thresholds at float32 precision, so that a score written as 0.7 passes a threshold of 0.7
        sel = np.flatnonzero((det.classes == c) & (det.scores >= np.float32(p.detection_score_threshold)))
        tracks = self._tracks[c]
        alive = tracks.last >= det.frame - p.keep_alive - 1
        if not alive.all():
            tracks = self._tracks[c] = tracks.subset(alive)
        rows = cols = np.zeros(0, np.int64)
        if len(sel) and len(tracks.ids):
            rows, cols = match(association_cost(det, sel, tracks, p, feats, self.distance),
                               p.association_threshold, self.matching_method)
            d = sel[rows]
            tracks.embeddings[cols] = feats[d]
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
        tracks.append(new_ids, det, new, feats)
        return (np.concatenate([sel[rows], new]), np.concatenate([matched_ids, new_ids]),
                np.concatenate([matched_ages, np.zeros(len(new), np.int64)]))
