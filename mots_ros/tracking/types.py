"""What flows into and out of the tracker, one frame at a time (see ``../shared/DESIGN.md``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrameDetections:
    """The detections of one frame: boxes ``x0, y0, x1, y1`` (N, 4) float32, scores (N,) float32, classes (N,)
    int64 (1 car, 2 pedestrian), COCO RLE masks (``{'size': [h, w], 'counts': bytes}``) and association
    embeddings (N, D) float32. ``stamp`` is opaque (nanoseconds in ROS) and copied to the tracks.
    ``representatives`` (N, R, D) float32: R embeddings near each cluster's centre (pixel-embedding clusters,
    thesis 6.2.3; None for box detections). ``votes`` (N, 1 + P, 3) float32: row p is (existence probability, x,
    y) of the cluster's object in frame t - p as the pixels' votes for previous frames predict it (thesis 6.3.2), row
    0 (1, x, y) of the cluster's own centre, in image pixels (None without such votes)."""

    frame: int
    stamp: int
    height: int
    width: int
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    masks: list
    embeddings: np.ndarray
    representatives: np.ndarray | None = None
    votes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, frame: int, stamp: int, height: int, width: int, dim: int) -> "FrameDetections":
        """A frame without detections (embedding dimension ``dim``)."""
        return cls(frame, stamp, height, width, np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.int64), [], np.zeros((0, dim), np.float32))


@dataclass
class FrameTracks:
    """The tracked objects of one frame: track ids (unique per class), classes, scores, boxes and disjoint RLE
    masks as for :class:`FrameDetections`, and ``ages`` (N,) int64 = frames since the track started."""

    frame: int
    stamp: int
    height: int
    width: int
    track_ids: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    masks: list
    ages: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)

    @classmethod
    def empty(cls, frame: int, stamp: int, height: int, width: int) -> "FrameTracks":
        """A frame without tracked objects."""
        z = np.zeros(0, np.int64)
        return cls(frame, stamp, height, width, z, z.copy(), np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                   [], z.copy())
