"""Builders for small hand-made sequences."""
import numpy as np

from mots_ros.data import rle
from mots_ros.data.formats import Sequence


def box(h, w, y0, x0, y1, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def make_seq(objects, name="0000"):
    """``objects``: list of (frame, id, mask) with ids class*1000+instance or 10000."""
    frames = np.array([o[0] for o in objects], np.int64)
    ids = np.array([o[1] for o in objects], np.int64)
    classes = np.where(ids == 10000, 10, ids // 1000)
    return Sequence(name, frames, ids, classes, [rle.encode(o[2])[0] for o in objects])
