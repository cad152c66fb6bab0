"""The linkers of the pixel-embedding family. Numpy only.

The cluster linker (thesis 6.2.3, 6.2.4): clusters of adjacent frames are linked greedily on the distances between
their representatives (embeddings near each cluster's centre, :mod:`mots_ros.tracking.cluster`).

The distance of a cluster to a track is the smallest Euclidean distance between one of its representatives and one
of the representatives of the track's last cluster ("if two representatives of two clusters are close together in
the embedding space, these clusters are merged to form tracks"). Everything else is the association tracker's, per
class: detections below ``detection_score_threshold`` are ignored, a pair links when its cost (``reid_weight`` x
that distance, plus the optional mask-IoU and box-centre cues) is at most ``association_threshold``, tracks live
``keep_alive`` frames unmatched, unmatched clusters scoring at least ``new_track_score_threshold`` start new
tracks. Matching is always greedy (cheapest pair first), as in the thesis.

The vote linker (thesis 6.3.2, :class:`VoteLinker`) links the clusters of a model with votes for previous frames by
the centres those votes predict.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from mots_ros import MotsError

from .config import ClassParams, TrackerConfig
from .tracker import CLASS_IDS, Tracker, match
from .types import FrameDetections


def no_features(det: FrameDetections, dim: int | None, what: str) -> np.ndarray:
    """The (0, dim) features of a frame without detections; for detections that lack ``what`` a MotsError naming
    the frame."""
    if len(det):
        raise MotsError(f"frame {det.frame}: detections without {what}")
    return np.zeros((0, dim or 0), np.float32)


class ClusterLinker(Tracker):
    """Links pixel-embedding clusters into tracks; ``reset()`` / ``step(FrameDetections) -> FrameTracks`` as
    :class:`~mots_ros.tracking.tracker.Tracker`. A track keeps the representatives of its last cluster."""

    @property
    def matching_method(self) -> str:
        return "greedy"

    def reset(self) -> None:
        super().reset()
        self._count: int | None = None  # representatives per cluster

    def features(self, det: FrameDetections) -> np.ndarray:
        """(N, R*D): each cluster's R representatives, flattened (a MotsError for detections without them)."""
        if det.representatives is None:
            return no_features(det, self._dim, "representatives; the cluster linker links pixel-embedding clusters "
                                               "(use linker: association for box detections)")
        reps = det.representatives
        if len(det) and self._count is not None and reps.shape[1] != self._count:
            raise MotsError(f"frame {det.frame}: {reps.shape[1]} representatives per cluster, the tracks have "
                            f"{self._count}")
        if len(det):
            self._count = reps.shape[1]
        return reps.reshape(len(reps), -1)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(n, m) smallest distance between a representative of each detection and one of each track."""
        r = self._count
        pairs = cdist(a.reshape(-1, a.shape[1] // r), b.reshape(-1, b.shape[1] // r))
        return pairs.reshape(len(a), r, len(b), r).min(axis=(1, 3))


EXISTENCE_THRESHOLD = 0.5  # thesis 6.3.2: a cluster whose objects existed nowhere more surely starts a new track


class VoteLinker(Tracker):
    """Links clusters by their votes for previous frames (thesis 6.3.2); ``reset()`` / ``step(FrameDetections) ->
    FrameTracks`` as :class:`~mots_ros.tracking.tracker.Tracker`.

    Per class, among the clusters scoring at least ``detection_score_threshold``: each cluster takes the past frame
    t - p (p = 1..P) with its highest mean existence probability; below :data:`EXISTENCE_THRESHOLD` it is new.
    Otherwise its mean voted centre for that frame is assigned to the centres of the instances output in frame t - p
    (Hungarian on the Euclidean distances, the nearer frames first; an instance is continued once), a pair only when
    at most ``vote_distance_threshold`` x the image diagonal apart. Unassigned clusters scoring at least
    ``new_track_score_threshold`` start new tracks. The linker keeps the centres of the last P frames' instances,
    so a stream fed in pieces links as one pass.
    """

    def reset(self) -> None:
        super().reset()
        # class -> frame -> (track ids, centres (n, 2), first frames) of the instances output then
        self._past: dict[int, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {c: {} for c in CLASS_IDS}

    def features(self, det: FrameDetections) -> np.ndarray:
        """(N, (1+P)*3): each cluster's votes, flattened (a MotsError for detections without them)."""
        if det.votes is None:
            return no_features(det, self._dim, "votes for previous frames; the vote linker links clusters of a model "
                                               "with past_votes (use linker: clusters otherwise)")
        return det.votes.reshape(len(det), -1)

    def _step_class(self, det: FrameDetections, feats: np.ndarray, c: int, p: ClassParams):
        """(detection indices, track ids, ages) of the continued and new tracks of class ``c``."""
        sel = np.flatnonzero((det.classes == c) & (det.scores >= np.float32(p.detection_score_threshold)))
        back_max = feats.shape[1] // 3 - 1
        votes = feats[sel].reshape(len(sel), back_max + 1, 3)
        past = self._past[c]
        for frame in [f for f in past if f < det.frame - back_max]:
            del past[frame]
        ids = np.zeros(len(sel), np.int64)  # 0: no track yet
        starts = np.full(len(sel), det.frame, np.int64)
        if back_max and len(sel):
            exist = votes[:, 1:, 0]
            back = exist.argmax(1) + 1
            voting = exist.max(1) >= EXISTENCE_THRESHOLD
            gate = p.vote_distance_threshold * float(np.hypot(det.height, det.width))
            taken: list[int] = []
            for b in range(1, back_max + 1):
                rows = np.flatnonzero(voting & (back == b))
                if not len(rows) or det.frame - b not in past:
                    continue
                known, centres, first = past[det.frame - b]
                cost = cdist(votes[rows, b, 1:], centres)
                cost[:, np.isin(known, taken)] = np.inf
                r, k = match(cost, gate, "hungarian")
                ids[rows[r]], starts[rows[r]] = known[k], first[k]
                taken += known[k].tolist()
        new = (ids == 0) & (det.scores[sel] >= np.float32(p.new_track_score_threshold))
        ids[new] = np.arange(self._next_id[c], self._next_id[c] + new.sum())
        self._next_id[c] += int(new.sum())
        out = ids > 0
        past[det.frame] = (ids[out], votes[out, 0, 1:], starts[out])
        return sel[out], ids[out], det.frame - starts[out]


LINKER_CLASSES = {"association": Tracker, "clusters": ClusterLinker, "votes": VoteLinker}


def make_tracker(config: TrackerConfig) -> Tracker:
    """The tracker ``config.linker`` names: the association tracker, the cluster linker or the vote linker."""
    return LINKER_CLASSES[config.linker](config)


def reconfigure(tracker: Tracker, config: TrackerConfig) -> Tracker:
    """``tracker`` with ``config`` (parameters changed at run time); a new one, ids restarting, when the linker
    changes."""
    if type(tracker) is LINKER_CLASSES[config.linker]:
        tracker.config = config
        return tracker
    return make_tracker(config)
