"""COCO run-length encoding helpers on top of pycocotools (masks travel as RLE; decode only to draw)."""
from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_utils

# pycocotools 2.0.11 keeps the object count of a call in a uint8 (OverflowError from 256 objects on)
CHUNK = 255


def encode(masks: np.ndarray) -> list[dict]:
    """Encode an (H, W) or (H, W, N) boolean array into a list of RLE dicts with ``bytes`` counts."""
    if masks.ndim == 2:
        masks = masks[:, :, None]
    masks = np.asfortranarray(masks.astype(np.uint8, copy=False))
    return [r for i in range(0, masks.shape[2], CHUNK) for r in mask_utils.encode(masks[:, :, i:i + CHUNK])]


def decode(rles: list[dict]) -> np.ndarray:
    """Decode RLEs of one image size into an (H, W, N) uint8 array."""
    return mask_utils.decode(list(rles))


def areas(rles: list[dict]) -> np.ndarray:
    """Pixel count of each RLE (int64)."""
    rles = list(rles)
    if not rles:
        return np.zeros(0, np.int64)
    return np.concatenate([mask_utils.area(rles[i:i + CHUNK]) for i in range(0, len(rles), CHUNK)]).astype(np.int64)


def merge(rles: list[dict], height: int, width: int) -> dict:
    """Union of RLEs; the empty mask of the given size for an empty list."""
    if not rles:
        return encode(np.zeros((height, width), bool))[0]
    if len(rles) == 1:
        return rles[0]
    return mask_utils.merge(list(rles), intersect=False)


def boxes(rles: list[dict]) -> np.ndarray:
    """Bounding boxes ``[x, y, w, h]`` of RLEs, shape (N, 4)."""
    rles = list(rles)
    if not rles:
        return np.zeros((0, 4))
    return np.concatenate([mask_utils.toBbox(rles[i:i + CHUNK]) for i in range(0, len(rles), CHUNK)])


def label_map(rles: list[dict], values: np.ndarray, height: int, width: int, dtype=np.uint16) -> np.ndarray:
    """Paint disjoint masks into an (H, W) map holding ``values[i]`` on mask i and 0 elsewhere."""
    out = np.zeros((height, width), dtype)
    if rles:
        stack = decode(rles)  # (H, W, N)
        hit = stack.any(axis=2)
        out[hit] = np.asarray(values, dtype)[stack[hit].argmax(axis=1)]
    return out


def from_label_map(labels: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Split a non-negative integer label map into (sorted nonzero values, their RLEs).

    Runs are found on the foreground pixels in column-major order, so the cost grows with the object area,
    not with image size times object count.
    """
    h, w = labels.shape
    flat = np.ascontiguousarray(labels.T).ravel()
    fg = np.flatnonzero(flat)
    vals = flat[fg]
    values = np.flatnonzero(np.bincount(vals)) if len(vals) else np.zeros(0, np.int64)
    objs = []
    for v in values:
        idx = fg[vals == v]
        brk = np.flatnonzero(np.diff(idx) != 1) + 1
        starts = idx[np.r_[0, brk]]
        ends = idx[np.r_[brk - 1, len(idx) - 1]] + 1
        counts = np.empty(2 * len(starts) + 1, np.int64)
        counts[0] = starts[0]
        counts[2:-1:2] = starts[1:] - ends[:-1]
        counts[1::2] = ends - starts
        counts[-1] = h * w - ends[-1]
        objs.append({"size": [h, w], "counts": (counts if counts[-1] else counts[:-1]).tolist()})
    rles = [r for i in range(0, len(objs), CHUNK) for r in mask_utils.frPyObjects(objs[i:i + CHUNK], h, w)]
    return values.astype(labels.dtype), rles
