"""Ground truth downsampled and upsampled back, scored against itself (thesis Fig. 6.2).

Nearest-neighbour resampling at pixel centres, both ways (what PyTorch calls ``nearest-exact`` and PIL
``NEAREST``): an image of n pixels becomes m = floor(n / S); output pixel i takes input pixel
``floor((i + 0.5) * n / m)``, and upsampling back takes ``floor((y + 0.5) * m / n)`` for pixel y.
The score is an upper bound for a method that predicts masks at 1/S of the input resolution. An object that
vanishes at the low resolution stays in the output with an empty mask, which the evaluation counts as a false
positive (and its ground truth as missed); the thesis's numbers (88.0 / 79.6 at stride 4) count it so.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data import rle as rle_ops
from mots_ros.data.formats import IGNORE, Sequence


def _centre_indices(n: int, m: int) -> np.ndarray:
    """For each of m output pixels, the input pixel (of n) under its centre."""
    return np.minimum(((np.arange(m) + 0.5) * n / m).astype(np.int64), n - 1)


def resample_labels(labels: np.ndarray, stride: int) -> np.ndarray:
    """Nearest-neighbour down by ``stride`` at pixel centres and back up to the original size."""
    h, w = labels.shape
    sh, sw = max(1, h // stride), max(1, w // stride)
    small = labels[_centre_indices(h, sh)[:, None], _centre_indices(w, sw)[None, :]]
    return small[_centre_indices(sh, h)[:, None], _centre_indices(sw, w)[None, :]]


def downsample_sequence(seq: Sequence, stride: int) -> Sequence:
    """Objects of ``seq`` (without ignore regions) after :func:`resample_labels`; vanished ones with empty masks."""
    frames, ids, rles = [], [], []
    h, w = seq.size or (0, 0)
    empty = rle_ops.encode(np.zeros((h, w), bool))[0] if h else None
    for frame, idx in seq.by_frame().items():
        idx = idx[seq.classes[idx] != IGNORE]
        if len(idx) == 0:
            continue
        labels = rle_ops.label_map([seq.rles[i] for i in idx], seq.ids[idx], h, w)
        values, masks = rle_ops.from_label_map(resample_labels(labels, stride))
        vanished = np.setdiff1d(seq.ids[idx], values)
        frames += [frame] * (len(values) + len(vanished))
        ids += values.tolist() + vanished.tolist()
        rles += masks + [empty] * len(vanished)
    ids = np.array(ids, np.int64)
    return Sequence(seq.name, np.array(frames, np.int64), ids, ids // 1000, rles, f"{seq.source} (stride {stride})")


def evaluate_downsampled(gt_dir: str, seqmap_path: str, stride: int) -> dict:
    """`mots eval` numbers of the resampled ground truth against the original, for every seqmap sequence."""
    from mots_ros.eval.evaluate import evaluate_sequences

    if stride < 1:
        raise MotsError(f"stride must be a positive integer, got {stride}")
    pairs = {}
    for seq, (first, last) in tqdm(formats.read_seqmap(seqmap_path).items(), desc=f"stride {stride}", unit="seq"):
        gt = formats.load_sequence(gt_dir, seq)
        formats.check_frames(gt, first, last, seqmap_path)
        pairs[seq] = (gt, downsample_sequence(gt, stride), first, last)
    return evaluate_sequences(pairs)
