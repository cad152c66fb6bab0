"""From per-pixel outputs to detections (thesis 6.2.3, 6.2.4, 6.2.9): per-class HDBSCAN on the embeddings (+ the
scaled pixel positions), nearest-neighbour upsampling, one detection per cluster. Numpy only (no torch).

For each class c, the output pixels whose most likely class is c are clustered with HDBSCAN (``hdbscan`` package;
k = ``min_samples``, ``min_cluster_size`` given in full-resolution pixels and divided by the image area one output
pixel covers; ``selection_epsilon``, HDBSCAN's cluster_selection_epsilon, keeps clusters whole that would split
at a smaller feature distance, so a small minimum size can find far pedestrians without cutting near ones into
parts). Noise pixels belong to no instance. Each cluster becomes a mask at image resolution (the output
pixel under each image pixel, so masks are disjoint), its tight box, score = mean class probability over the
cluster, embedding = the cluster's mean embedding and ``representatives`` = the cluster's ``representatives``
embeddings nearest that mean (linking compares these across frames).

Speed: ``subsample`` s > 1 clusters only the pixels on every s-th row and column (1/s^2 of them, the grid of output
stride 4s; ``min_cluster_size`` still in image pixels) and gives every other pixel of the class the label of its
nearest clustered pixel in feature space (noise included): HDBSCAN's cost grows faster than its points. A class's
own ``subsample`` (0: the shared one) lets the many car pixels be subsampled while far pedestrians, a few output
pixels each, keep every pixel.

Features (``features``): the embeddings (the default), the predicted instance centres of a model with centre votes
(thesis 6.3.1: pixel position + predicted offset, over the longer output side, times ``centre_scale``; an object's
pixels all vote for one point, which splits touching objects whose embeddings agree), or both side by side (Fig.
6.27); each with or without the scaled pixel positions. The linking representatives are always embeddings.

Votes for previous frames (thesis 6.3.2; outputs of a model with ``past_votes``): each detection's ``votes`` hold
its centre and, per previous frame, its pixels' mean existence probability and mean predicted centre there, in
image pixels (:func:`cluster_votes`); the vote linker (:mod:`mots_ros.tracking.linking`) links by them.

Options (thesis 6.2.9): ``upsampling='bilinear'``: each cluster's class probabilities (0 off the cluster) are
upsampled bilinearly and a pixel goes to the cluster with the highest upsampled value if it exceeds 0.5, so masks
stay disjoint; ``upsampling='guided'``: the nearest labels, refined near the clusters' borders by the camera image
(:func:`guided_labels`, joint bilateral upsampling: an output pixel covers 4 x 4 image pixels, too coarse for the
mask of a far pedestrian a few pixels wide); ``single_cluster``: when HDBSCAN finds one cluster of a class in a
frame, every pixel with a probability above 0.5 for that class joins its mask (and its score; its embedding and
representatives stay the cluster's).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mots_ros.data import rle

from .types import FrameDetections

CLASS_IDS = {"car": 1, "pedestrian": 2}
UPSAMPLING = ("nearest", "bilinear", "guided")
FEATURES = ("embedding", "centre", "both")


def is_count(value) -> bool:
    """Whether ``value`` is an integer >= 1 (not a bool): min_samples, min_cluster_size, subsample."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass
class ClassClustering:
    """HDBSCAN parameters of one class (thesis 6.2.4: k 15 / 5, min cluster size 250 / 650 for cars /
    pedestrians)."""

    min_samples: int = 15  # k: a point needs this many close neighbours not to be pushed away (noise)
    min_cluster_size: int = 250  # smallest object, in pixels at full image resolution
    selection_epsilon: float = 0.0  # HDBSCAN cluster_selection_epsilon: no split below this feature distance
    subsample: int = 0  # this class's ClusterConfig.subsample (0: the shared one)


CLASS_FIELDS = ("min_samples", "min_cluster_size", "selection_epsilon", "subsample")  # the ClassClustering fields


@dataclass
class ClusterConfig:
    """Clustering of one frame. ``position_scale``: the pixel position (row, column) divided by the longer output
    side and multiplied by this is appended to the embedding (0: embeddings only; thesis 6.2.4 adds positions
    "scaled to a similar magnitude as the entries of the embedding vectors")."""

    car: ClassClustering = field(default_factory=lambda: ClassClustering(15, 250))
    pedestrian: ClassClustering = field(default_factory=lambda: ClassClustering(5, 650))
    position_scale: float = 8.0
    representatives: int = 5
    upsampling: str = "nearest"  # or 'bilinear'
    single_cluster: bool = False
    subsample: int = 1  # cluster every s-th output row and column, label the rest by their nearest clustered pixel
    features: str = "embedding"  # or 'centre' / 'both': the predicted centres of a model with centre votes
    centre_scale: float = 8.0  # weight of the predicted centre (over the longer output side)

    def __post_init__(self):
        if self.upsampling not in UPSAMPLING:
            raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {self.upsampling!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {self.features!r}")
        if not is_count(self.subsample):
            raise ValueError(f"subsample must be an integer >= 1, got {self.subsample!r}")
        for name in CLASS_IDS:
            step = getattr(self, name).subsample
            if step != 0 and not is_count(step):
                raise ValueError(f"{name}.subsample must be an integer >= 0, got {step!r}")

    def step(self, name: str) -> int:
        """The subsampling step of class ``name``: its own, else the shared one."""
        return getattr(self, name).subsample or self.subsample


CLUSTER_DESCRIPTIONS = {
    "position_scale": "Pixel-embedding models: weight of the pixel position (row, column over the longer output "
                      "side) appended to the embeddings before clustering (0: embeddings only; thesis 6.2.4).",
    "upsampling": "Pixel-embedding models: 'nearest' (masks from the output pixel under each image pixel), "
                  "'bilinear' (per-cluster probabilities upsampled, a pixel to the highest above 0.5; 6.2.9) or "
                  "'guided' (nearest, refined at the mask borders by the camera image's colours).",
    "single_cluster": "Pixel-embedding models: when a frame has one cluster of a class, every pixel of that class "
                      "above probability 0.5 joins it (thesis 6.2.9).",
    "subsample": "Pixel-embedding models: cluster the pixels of every s-th output row and column only and label "
                 "the others by their nearest clustered pixel in feature space (1: all; 2: a quarter, ~4x faster "
                 "clustering).",
    "features": "Pixel-embedding models: what is clustered: 'embedding', 'centre' (the centres predicted by a "
                "model with centre votes, thesis 6.3.1) or 'both' (Fig. 6.27); the position is added per "
                "position_scale.",
    "centre_scale": "Pixel-embedding models with centre votes: weight of the predicted centre (row, column over the "
                    "longer output side) among the clustering features.",
}

CLASS_DESCRIPTIONS = {
    "min_samples": "HDBSCAN k (min_samples) of the class (thesis 6.2.4: 15 cars, 5 pedestrians).",
    "min_cluster_size": "Smallest cluster of the class, in pixels at image resolution (thesis 6.2.4: 250 cars, "
                        "650 pedestrians).",
    "selection_epsilon": "HDBSCAN cluster_selection_epsilon of the class: clusters that would split at a feature "
                         "distance below this stay one (0: off), so a small min_cluster_size finds small objects "
                         "without cutting big ones into pieces.",
    "subsample": "The class's own clustering subsample (0: the shared clustering.subsample), e.g. 1 for "
                 "pedestrians, whose far instances cover only a few output pixels, with 2 for the many car pixels.",
}


def describe(key: str) -> str:
    """The description of the flat clustering parameter ``key`` (``position_scale``, ``car.min_samples``, ...)."""
    head, _, tail = key.partition(".")
    return CLASS_DESCRIPTIONS[tail] if tail else CLUSTER_DESCRIPTIONS[head]


COMMON_FIELDS = ("position_scale", "upsampling", "single_cluster", "features", "centre_scale")  # the ClusterConfig fields both classes share
SHARED_FIELDS = (*COMMON_FIELDS, "subsample")  # and the speed setting, which `mots tune` does not search


def cluster_params(config: ClusterConfig) -> dict:
    """Flat parameters (``car.min_samples``, ...) of ``config``, as the inference node declares them under
    ``clustering.``."""
    out = {k: getattr(config, k) for k in SHARED_FIELDS}
    for name in CLASS_IDS:
        out.update({f"{name}.{k}": getattr(getattr(config, name), k) for k in CLASS_FIELDS})
    return out


def cluster_from_dict(values: dict, where: str = "") -> ClusterConfig:
    """A :class:`ClusterConfig` from a nested mapping (``{'position_scale': 8.0, 'car': {'min_samples': 15}}``);
    missing keys keep their defaults; a bad key or value is a MotsError naming ``where`` and the key."""
    from mots_ros import MotsError

    default = ClusterConfig()
    if not isinstance(values, dict):
        raise MotsError(f"{where}clustering: expected a mapping, got {values!r}")
    known = {*SHARED_FIELDS, *CLASS_IDS}
    if set(values) - known:
        raise MotsError(f"{where}unknown key 'clustering.{sorted(set(values) - known)[0]}'")
    classes = {}
    for name in CLASS_IDS:
        sub = values.get(name, {})
        if not isinstance(sub, dict) or set(sub) - set(CLASS_FIELDS):
            raise MotsError(f"{where}clustering.{name}: expected {', '.join(CLASS_FIELDS)}, got {sub!r}")
        base = getattr(default, name)
        classes[name] = ClassClustering(*(sub.get(key, getattr(base, key)) for key in CLASS_FIELDS))
        for key in ("min_samples", "min_cluster_size"):
            v = getattr(classes[name], key)
            if not is_count(v):
                raise MotsError(f"{where}clustering.{name}.{key}: expected an integer >= 1, got {v!r}")
        v = classes[name].subsample
        if v != 0 and not is_count(v):
            raise MotsError(f"{where}clustering.{name}.subsample: expected an integer >= 0 (0: the shared "
                            f"clustering.subsample), got {v!r}")
        _check_float(classes[name].selection_epsilon, f"{where}clustering.{name}.selection_epsilon")
    scales = {}
    for key in ("position_scale", "centre_scale"):
        scales[key] = values.get(key, getattr(default, key))
        _check_float(scales[key], f"{where}clustering.{key}")
    features = values.get("features", default.features)
    if features not in FEATURES:
        raise MotsError(f"{where}clustering.features: expected one of {', '.join(FEATURES)}, got {features!r}")
    single = values.get("single_cluster", default.single_cluster)
    if not isinstance(single, bool):
        raise MotsError(f"{where}clustering.single_cluster: expected true or false, got {single!r}")
    upsampling = values.get("upsampling", default.upsampling)
    if upsampling not in UPSAMPLING:
        raise MotsError(f"{where}clustering.upsampling: expected one of {', '.join(UPSAMPLING)}, got {upsampling!r}")
    subsample = values.get("subsample", default.subsample)
    if not is_count(subsample):
        raise MotsError(f"{where}clustering.subsample: expected an integer >= 1, got {subsample!r}")
    return ClusterConfig(classes["car"], classes["pedestrian"], scales["position_scale"], default.representatives,
                         upsampling, single, subsample, features, scales["centre_scale"])


def _check_float(value, name: str) -> None:
    """A MotsError naming ``name`` unless ``value`` is a finite float >= 0."""
    from mots_ros import MotsError

    if isinstance(value, bool) or not isinstance(value, float) or not 0 <= value < float("inf"):
        hint = " (write it with a decimal point: ROS 2 parameters are typed)" if type(value) is int else ""
        raise MotsError(f"{name}: expected a float >= 0, got {value!r}{hint}")


def nested(flat: dict) -> dict:
    """``{'car.min_samples': 15, ...}`` -> ``{'car': {'min_samples': 15}, ...}``."""
    out: dict = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def load_cluster_config(path: str) -> ClusterConfig | None:
    """The ``clustering`` parameters of ``inference_node`` in a ROS 2 parameter file (a tuned tracker file of
    `mots tune --outputs`); None when it has none."""
    from .config import read_node_params

    params = read_node_params(path, "inference_node", required=False)
    return cluster_from_dict(params["clustering"], f"{path}: ") if "clustering" in params else None


def dump_cluster_config(config: ClusterConfig) -> str:
    """The ``/**/inference_node`` section holding ``config`` as its ``clustering`` parameters (commented)."""
    out = ["/**/inference_node:", "  ros__parameters:", "    clustering:"]
    for key in SHARED_FIELDS:
        value = getattr(config, key)
        text = repr(float(value)) if key.endswith("_scale") else str(value).lower() if key == "single_cluster" \
            else value
        out += [f"      # {describe(key)}", f"      {key}: {text}"]
    for name in CLASS_IDS:
        out.append(f"      {name}:")
        for key in CLASS_FIELDS:
            value = getattr(getattr(config, name), key)
            out += [f"        # {describe(f'{name}.{key}')}",
                    f"        {key}: {repr(float(value)) if key == 'selection_epsilon' else value}"]
    return "\n".join(out) + "\n"


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
    return hdbscan.HDBSCAN(min_cluster_size=size, min_samples=k, allow_single_cluster=True,
                           cluster_selection_epsilon=float(params.selection_epsilon)
                           ).fit_predict(features).astype(np.int64)


def representatives(embeddings: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean embedding (D,), the ``count`` embeddings nearest it (count, D); the nearest repeated if fewer)."""
    centre = embeddings.mean(0)
    order = np.argsort(((embeddings - centre) ** 2).sum(1))[:count]
    order = np.resize(order, count)
    return centre, embeddings[order]


def bilinear_weights(out: int, stride: int, resized: int, original: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, f) per image pixel: the output pixels whose centres enclose it (``(j + 0.5) * stride`` in resized
    coordinates; clamped at the borders) and the weight of ``i1``."""
    u = np.clip((np.arange(original) + 0.5) * resized / original / stride - 0.5, 0, out - 1)
    i0 = np.floor(u).astype(np.int64)
    return i0, np.minimum(i0 + 1, out - 1), (u - i0).astype(np.float32)


def bilinear_labels(maps: np.ndarray, resized: tuple[int, int], stride: int, height: int, width: int) -> np.ndarray:
    """(height, width) labels from (N, h, w) per-cluster probability maps: 1 + the cluster with the highest
    bilinearly upsampled value where that exceeds 0.5, else 0."""
    r0, r1, fr = bilinear_weights(maps.shape[1], stride, resized[0], height)
    c0, c1, fc = bilinear_weights(maps.shape[2], stride, resized[1], width)
    rows = maps[:, r0] * (1 - fr)[None, :, None] + maps[:, r1] * fr[None, :, None]
    up = rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc
    return np.where(up.max(0) > 0.5, up.argmax(0) + 1, 0).astype(np.int32)


def subsampled_labels(features: np.ndarray, grid: np.ndarray, params: ClassClustering, cell_area: float,
                      step: int) -> np.ndarray:
    """HDBSCAN labels of (N, F) points: those where ``grid`` is True are clustered (each standing for ``step``^2
    output pixels), each other point takes the label of its nearest clustered point in feature space."""
    if step == 1:
        return cluster_points(features, params, cell_area)
    from scipy.spatial import cKDTree

    found = cluster_points(features[grid], params, cell_area * step * step)
    labels = np.full(len(features), -1, np.int64)
    labels[grid] = found
    if found.max(initial=-1) >= 0 and (~grid).any():
        labels[~grid] = found[cKDTree(features[grid]).query(features[~grid])[1]]
    return labels


def _clusters(probs: np.ndarray, best: np.ndarray, features: np.ndarray, cls: int, params: ClassClustering,
              cell_area: float, single_cluster: bool, step: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(flat indices of the cluster's mask pixels, of its HDBSCAN members) per cluster of class ``cls``, clustering
    the pixels of every ``step``-th row and column."""
    idx = np.flatnonzero(best.ravel() == cls)
    if not len(idx):
        return []
    rows, cols = np.divmod(idx, best.shape[1])
    grid = (rows % step == 0) & (cols % step == 0)
    found = subsampled_labels(features[idx], grid, params, cell_area, step)
    groups = [idx[found == c] for c in range(found.max(initial=-1) + 1)]
    if single_cluster and len(groups) == 1:
        return [(np.union1d(groups[0], np.flatnonzero(probs[cls].ravel() > 0.5)), groups[0])]
    return [(g, g) for g in groups]


def clustering_features(flat_emb: np.ndarray, offsets: np.ndarray | None, rows: np.ndarray, cols: np.ndarray,
                        config: ClusterConfig) -> np.ndarray:
    """(h*w, F) points to cluster: the ``config.features`` of each output pixel, then its scaled position."""
    position = np.stack([rows, cols], -1).reshape(-1, 2).astype(np.float32)
    parts = [flat_emb] if config.features != "centre" else []
    if config.features != "embedding":
        if offsets is None:
            raise ValueError(f"clustering.features {config.features!r} needs a model with centre votes "
                             f"(centre_votes: true); this one predicts no offsets")
        centres = position + offsets.reshape(2, -1).T
        parts.append(centres * np.float32(config.centre_scale / max(rows.shape)))
    if config.position_scale:
        parts.append(position * np.float32(config.position_scale / max(rows.shape)))
    return parts[0] if len(parts) == 1 else np.hstack(parts).astype(np.float32)


def cluster_frame(probs: np.ndarray, embeddings: np.ndarray, frame: int, stamp: int, height: int, width: int,
                  resized: tuple[int, int], stride: int, config: ClusterConfig,
                  score_threshold: float | None = None, offsets: np.ndarray | None = None,
                  past: np.ndarray | None = None, centre: str = "mass",
                  classes: tuple[str, ...] = tuple(CLASS_IDS), image: np.ndarray | None = None) -> FrameDetections:
    """Detections of one frame from class probabilities (C, h, w), embeddings (D, h, w) and, for the centre
    features, centre offsets (2, h, w; output pixels) at the output stride of an image of (height, width) that the
    network saw at ``resized``; with ``past`` votes for previous frames (3P, h, w), each detection's ``votes``
    (:func:`cluster_votes`, centres of ``centre`` 'mass' or 'box'). Only the ``classes`` named are clustered (the
    tuner, varying one class's parameters, skips the other). ``image``: the (height, width, 3) uint8 RGB camera
    image, which ``upsampling`` 'guided' needs."""
    if config.upsampling == "guided" and image is None:
        raise ValueError("clustering.upsampling 'guided' needs the camera image of the frame")
    (_, h, w), dim = probs.shape, embeddings.shape[0]
    rows, cols = np.mgrid[0:h, 0:w]
    flat_emb = embeddings.reshape(dim, -1).T
    features = clustering_features(flat_emb, offsets, rows, cols, config)
    best = probs.argmax(0)
    cell_area = (height / h) * (width / w)
    found, scores, centres, reps, masks = [], [], [], [], []
    for name in classes:
        cls = CLASS_IDS[name]
        for pixels, members in _clusters(probs, best, features, cls, getattr(config, name), cell_area,
                                         config.single_cluster, config.step(name)):
            score = float(probs[cls].ravel()[pixels].mean())
            if score_threshold is not None and score < score_threshold:
                continue
            mean, rep = representatives(flat_emb[members], config.representatives)
            found.append(cls)
            scores.append(score)
            centres.append(mean)
            reps.append(rep)
            masks.append(pixels)
    if not found:
        return FrameDetections.empty(frame, stamp, height, width, dim)
    full = _upsampled_labels(probs, found, masks, resized, stride, height, width, config.upsampling, image)
    values, rles = rle.from_label_map(full)
    keep = values - 1  # clusters whose mask vanished at image resolution are dropped
    boxes = rle.boxes(rles).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    votes = None
    if past is not None:
        votes = np.zeros((len(keep), 1 + len(past) // 3, 3), np.float32)
        for row, k in enumerate(keep):
            votes[row] = cluster_votes(past, masks[k], w, centre)
        # (x, y) in output pixels -> (row, column) -> image pixels -> (x, y)
        votes[:, :, 1:] = image_coordinates(votes[:, :, :0:-1], stride, resized, height, width)[..., ::-1]
    return FrameDetections(frame, stamp, height, width, boxes, np.array(scores, np.float32)[keep],
                           np.array(found, np.int64)[keep], rles, np.array(centres, np.float32)[keep],
                           np.array(reps, np.float32)[keep], votes)


def image_coordinates(points: np.ndarray, stride: int, resized: tuple[int, int], height: int, width: int
                      ) -> np.ndarray:
    """Image pixel coordinates (row, column) of output-pixel coordinates ``points`` (..., 2): output pixel r covers
    resized pixels [r * stride, (r + 1) * stride), so its centre (r + 0.5) * stride maps to image coordinate
    (r + 0.5) * stride * height / resized - 0.5."""
    ratio = np.array([height / resized[0], width / resized[1]])
    return (points + 0.5) * stride * ratio - 0.5


def cluster_votes(past: np.ndarray, pixels: np.ndarray, width: int, centre: str = "mass") -> np.ndarray:
    """(1 + P, 3) votes of one cluster (its flat ``pixels`` in outputs ``width`` wide) in output pixels: row 0 is
    (1, x, y) of its centre (``'mass'``: the mean pixel position; ``'box'``: the middle of their extent), row p the
    mean existence probability for frame t - p and the mean of its pixels' predicted centres then (position +
    offset) from ``past`` (3P, h, w: row offset, column offset, existence per past frame)."""
    rows, cols = np.divmod(pixels, width)
    pos = np.stack([cols, rows], 1).astype(np.float32)
    own = pos.mean(0) if centre == "mass" else (pos.min(0) + pos.max(0)) / 2
    at = past.reshape(-1, 3, past.shape[1] * past.shape[2])[:, :, pixels]  # (P, 3, n)
    voted = pos.mean(0) + np.stack([at[:, 1].mean(1), at[:, 0].mean(1)], 1)  # (P, 2) as x, y
    return np.vstack([[1.0, *own], np.column_stack([at[:, 2].mean(1), voted])]).astype(np.float32)


GUIDE_RADIUS, GUIDE_SIGMA_SPACE, GUIDE_SIGMA_COLOUR = 2, 2.0, 20.0  # output pixels, output pixels, RGB 0..255


def guided_labels(low: np.ndarray, image: np.ndarray, resized: tuple[int, int], stride: int) -> np.ndarray:
    """(H, W) labels of the image from (h, w) output-pixel labels, guided by the (H, W, 3) uint8 image (joint
    bilateral upsampling, Kopf et al. 2007): an image pixel near a label border takes the label of highest total
    weight among the output pixels within ``GUIDE_RADIUS`` of the one under it, each weighted by a Gaussian of its
    distance (``GUIDE_SIGMA_SPACE``) and of the colour difference between the pixel and the image at its centre
    (``GUIDE_SIGMA_COLOUR``); elsewhere the nearest output pixel's label."""
    (h, w), (height, width) = low.shape, image.shape[:2]
    rows, cols = upsample_indices(h, stride, resized[0], height), upsample_indices(w, stride, resized[1], width)
    out = low[rows[:, None], cols[None, :]]
    r = GUIDE_RADIUS
    padded = np.pad(low, 1, mode="edge")
    border = np.zeros((h, w), bool)  # output pixels with another label among their 8 neighbours
    for dy in range(3):
        for dx in range(3):
            border |= padded[dy:dy + h, dx:dx + w] != low
    ys, xs = np.nonzero(border[rows[:, None], cols[None, :]])
    if not len(ys):
        return out
    centre_y = (np.arange(h) + 0.5) * stride * height / resized[0] - 0.5  # output pixel centres in the image
    centre_x = (np.arange(w) + 0.5) * stride * width / resized[1] - 0.5
    colours = image[np.clip(np.rint(centre_y), 0, height - 1).astype(np.int64)[:, None],
                    np.clip(np.rint(centre_x), 0, width - 1).astype(np.int64)[None, :]].astype(np.float32)
    pixel = image[ys, xs].astype(np.float32)
    # the image pixels' positions in output pixels (a centre lies at (r + 0.5) * stride in resized coordinates)
    py = ((ys + 0.5) * resized[0] / height / stride - 0.5).astype(np.float32)
    px = ((xs + 0.5) * resized[1] / width / stride - 0.5).astype(np.float32)
    n_labels = int(low.max()) + 1
    score = np.zeros(len(ys) * n_labels, np.float64)
    base = np.arange(len(ys)) * n_labels
    under_y, under_x = rows[ys], cols[xs]  # the output pixel under each image pixel
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            qy, qx = np.clip(under_y + dy, 0, h - 1), np.clip(under_x + dx, 0, w - 1)
            exponent = (((qy - py) ** 2 + (qx - px) ** 2) / (2 * GUIDE_SIGMA_SPACE ** 2)
                        + ((pixel - colours[qy, qx]) ** 2).sum(1) / (2 * GUIDE_SIGMA_COLOUR ** 2))
            score += np.bincount(base + low[qy, qx], np.exp(-exponent), len(score))
    out[ys, xs] = score.reshape(-1, n_labels).argmax(1)
    return out


def _upsampled_labels(probs: np.ndarray, classes: list[int], masks: list[np.ndarray], resized: tuple[int, int],
                      stride: int, height: int, width: int, mode: str, image: np.ndarray | None = None
                      ) -> np.ndarray:
    """(height, width) int32 map: 1 + the index of the cluster owning each image pixel, 0 for none."""
    _, h, w = probs.shape
    if mode == "bilinear":
        maps = np.zeros((len(masks), h * w), np.float32)
        for k, (cls, pixels) in enumerate(zip(classes, masks)):
            maps[k, pixels] = probs[cls].ravel()[pixels]
        return bilinear_labels(maps.reshape(-1, h, w), resized, stride, height, width)
    labels = np.zeros(h * w, np.int32)
    for k, pixels in enumerate(masks):
        labels[pixels] = k + 1
    grid = labels.reshape(h, w)
    if mode == "guided":
        if image.shape[:2] != (height, width):
            raise ValueError(f"the camera image is {image.shape[1]}x{image.shape[0]}, the outputs' {width}x{height}")
        return guided_labels(grid, image, resized, stride)
    return grid[upsample_indices(h, stride, resized[0], height)[:, None],
                upsample_indices(w, stride, resized[1], width)[None, :]]
