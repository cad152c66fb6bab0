"""Ground truth downsampled and upsampled back, scored against itself (thesis Fig. 6.2).

Downsampling by stride S takes, for output pixel i, the input pixel whose area contains the output pixel's
centre, ``(i + 0.5) * S``, i.e. index ``i * S + S // 2``; upsampling back maps input pixel y to ``y // S``.
The score is an upper bound for a method that predicts masks at 1/S of the input resolution.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data import rle as rle_ops
from mots_ros.data.formats import IGNORE, Sequence


def resample_labels(labels: np.ndarray, stride: int) -> np.ndarray:
    """Nearest-neighbour down by ``stride`` at pixel centres and back up to the original size."""
    h, w = labels.shape
    small = labels[stride // 2::stride, stride // 2::stride]
    rows = np.minimum(np.arange(h) // stride, small.shape[0] - 1)
    cols = np.minimum(np.arange(w) // stride, small.shape[1] - 1)
    return small[rows[:, None], cols[None, :]]


def downsample_sequence(seq: Sequence, stride: int) -> Sequence:
    """Objects of ``seq`` (without ignore regions) after :func:`resample_labels`; vanished objects are dropped."""
    frames, ids, rles = [], [], []
    h, w = seq.size or (0, 0)
    for frame, idx in seq.by_frame().items():
        idx = idx[seq.classes[idx] != IGNORE]
        if len(idx) == 0:
            continue
        labels = rle_ops.label_map([seq.rles[i] for i in idx], seq.ids[idx], h, w)
        values, masks = rle_ops.from_label_map(resample_labels(labels, stride))
        frames += [frame] * len(values)
        ids += values.tolist()
        rles += masks
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
