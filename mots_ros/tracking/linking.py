"""The cluster linker of the pixel-embedding family (thesis 6.2.3, 6.2.4): clusters of adjacent frames are linked
greedily on the distances between their representatives (embeddings near each cluster's centre,
:mod:`mots_ros.tracking.cluster`). Numpy only.

The distance of a cluster to a track is the smallest Euclidean distance between one of its representatives and one
of the representatives of the track's last cluster ("if two representatives of two clusters are close together in
the embedding space, these clusters are merged to form tracks"). Everything else is the association tracker's, per
class: detections below ``detection_score_threshold`` are ignored, a pair links when its cost (``reid_weight`` x
that distance, plus the optional mask-IoU and box-centre cues) is at most ``association_threshold``, tracks live
``keep_alive`` frames unmatched, unmatched clusters scoring at least ``new_track_score_threshold`` start new
tracks. Matching is always greedy (cheapest pair first), as in the thesis.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from mots_ros import MotsError

from .config import TrackerConfig
from .tracker import Tracker
from .types import FrameDetections


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
            if len(det):
                raise MotsError(f"frame {det.frame}: detections without representatives; the cluster linker links "
                                f"pixel-embedding clusters (use linker: association for box detections)")
            return np.zeros((0, self._dim or 0), np.float32)
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


def make_tracker(config: TrackerConfig) -> Tracker:
    """The tracker ``config.linker`` names: the association tracker or the cluster linker."""
    return ClusterLinker(config) if config.linker == "clusters" else Tracker(config)


def reconfigure(tracker: Tracker, config: TrackerConfig) -> Tracker:
    """``tracker`` with ``config`` (parameters changed at run time); a new one, ids restarting, when the linker
    changes."""
    if isinstance(tracker, ClusterLinker) == (config.linker == "clusters"):
        tracker.config = config
        return tracker
    return make_tracker(config)
