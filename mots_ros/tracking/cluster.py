"""From per-pixel outputs to detections (thesis 6.2.3, 6.2.4, 6.2.9): per-class HDBSCAN on the embeddings (+ the
scaled pixel positions), nearest-neighbour upsampling, one detection per cluster. Numpy only (no torch).

For each class c, the output pixels whose most likely class is c are clustered with HDBSCAN (``hdbscan`` package;
k = ``min_samples``, ``min_cluster_size`` given in full-resolution pixels and divided by the image area one output
pixel covers). Noise pixels belong to no instance. Each cluster becomes a mask at image resolution (the output
pixel under each image pixel, so masks are disjoint), its tight box, score = mean class probability over the
cluster, embedding = the cluster's mean embedding and ``representatives`` = the cluster's ``representatives``
embeddings nearest that mean (linking compares these across frames).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mots_ros.data import rle

from .types import FrameDetections

CLASS_IDS = {"car": 1, "pedestrian": 2}


@dataclass
class ClassClustering:
    """HDBSCAN parameters of one class (thesis 6.2.4: k 15 / 5, min cluster size 250 / 650 for cars /
    pedestrians)."""

    min_samples: int = 15  # k: a point needs this many close neighbours not to be pushed away (noise)
    min_cluster_size: int = 250  # smallest object, in pixels at full image resolution


@dataclass
class ClusterConfig:
    """Clustering of one frame. ``position_scale``: the pixel position (row, column) divided by the longer output
    side and multiplied by this is appended to the embedding (0: embeddings only; thesis 6.2.4 adds positions
    "scaled to a similar magnitude as the entries of the embedding vectors")."""

    car: ClassClustering = field(default_factory=lambda: ClassClustering(15, 250))
    pedestrian: ClassClustering = field(default_factory=lambda: ClassClustering(5, 650))
    position_scale: float = 8.0
    representatives: int = 5


def upsample_indices(out: int, stride: int, resized: int, original: int) -> np.ndarray:
    """For each of ``original`` image pixels, the output pixel over it (nearest neighbour): image pixel y lies over
    resized pixel ``floor((y + 0.5) * resized / original)``, which output pixel ``// stride`` covers."""
    r = ((np.arange(original) + 0.5) * resized / original).astype(np.int64)
    return np.minimum(r // stride, out - 1)


def cluster_points(features: np.ndarray, params: ClassClustering, cell_area: float) -> np.ndarray:
    """HDBSCAN labels (-1 noise, else 0..n-1) of (N, F) points; ``cell_area``: image pixels per output pixel."""
    import hdbscan

    size = max(2, round(params.min_cluster_size / cell_area))
    if len(features) < max(size, 2):
        return np.full(len(features), -1, np.int64)
    k = max(1, min(params.min_samples, len(features) - 1))
    # a frame often holds one object of a class: HDBSCAN must be allowed to return a single cluster
    return hdbscan.HDBSCAN(min_cluster_size=size, min_samples=k, allow_single_cluster=True
                           ).fit_predict(features).astype(np.int64)


def representatives(embeddings: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean embedding (D,), the ``count`` embeddings nearest it (count, D); the nearest repeated if fewer)."""
    centre = embeddings.mean(0)
    order = np.argsort(((embeddings - centre) ** 2).sum(1))[:count]
    order = np.resize(order, count)
    return centre, embeddings[order]


def cluster_frame(probs: np.ndarray, embeddings: np.ndarray, frame: int, stamp: int, height: int, width: int,
                  resized: tuple[int, int], stride: int, config: ClusterConfig,
                  score_threshold: float | None = None) -> FrameDetections:
    """Detections of one frame from class probabilities (C, h, w) and embeddings (D, h, w) at the output stride
    of an image of (height, width) that the network saw at ``resized``."""
    (_, h, w), dim = probs.shape, embeddings.shape[0]
    best = probs.argmax(0)
    rows, cols = np.mgrid[0:h, 0:w]
    position = np.stack([rows, cols], -1).reshape(-1, 2).astype(np.float32) * (config.position_scale / max(h, w))
    flat_emb = embeddings.reshape(dim, -1).T
    cell_area = (height / h) * (width / w)
    labels = np.zeros(h * w, np.int32)  # 0: no instance, else the index of the detection + 1
    classes, scores, centres, reps = [], [], [], []
    for name, cls in CLASS_IDS.items():
        idx = np.flatnonzero(best.ravel() == cls)
        if not len(idx):
            continue
        feats = flat_emb[idx] if not config.position_scale else np.hstack([flat_emb[idx], position[idx]])
        found = cluster_points(feats, getattr(config, name), cell_area)
        for c in range(found.max(initial=-1) + 1):
            members = idx[found == c]
            score = float(probs[cls].ravel()[members].mean())
            if score_threshold is not None and score < score_threshold:
                continue
            centre, rep = representatives(flat_emb[members], config.representatives)
            classes.append(cls)
            scores.append(score)
            centres.append(centre)
            reps.append(rep)
            labels[members] = len(classes)
    if not classes:
        return FrameDetections.empty(frame, stamp, height, width, dim)
    grid = labels.reshape(h, w)
    full = grid[upsample_indices(h, stride, resized[0], height)[:, None],
                upsample_indices(w, stride, resized[1], width)[None, :]]
    values, masks = rle.from_label_map(full)
    keep = values - 1  # clusters whose mask vanished at image resolution are dropped
    boxes = rle.boxes(masks).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    return FrameDetections(frame, stamp, height, width, boxes, np.array(scores, np.float32)[keep],
                           np.array(classes, np.int64)[keep], masks, np.array(centres, np.float32)[keep],
                           np.array(reps, np.float32)[keep])
