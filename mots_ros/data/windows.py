"""Windows of consecutive frames from a KITTI MOTS layout, as torch training samples (thesis 3, 4: batches of 8
consecutive frames). Imports torch; the rest of :mod:`mots_ros.data` does not.

Layout: ``ROOT/images/SEQ/FRAME.png|jpg`` and ``ROOT/instances_txt/SEQ.txt`` (what ``mots synth`` writes, and
KITTI MOTS / MOTS20 with their image folders). Ignore regions are no instances; they come as one ``ignore`` mask
per frame, which the pixel losses skip (thesis 6.2.4). A model family turns a window into its own training sample
with ``transform`` (its augmentation and targets, in the loader's worker processes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from mots_ros import MotsError
from mots_ros.data import formats
from mots_ros.data import rle as rle_ops
from mots_ros.data.images import read_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def list_frames(image_dir: str) -> dict[int, str]:
    """``{frame: path}`` of the images in a sequence folder (the file stem is the frame number)."""
    if not os.path.isdir(image_dir):
        raise MotsError(f"{image_dir}: image folder not found")
    frames = {}
    for name in os.listdir(image_dir):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS and stem.isdigit():
            frames[int(stem)] = os.path.join(image_dir, name)
    if not frames:
        raise MotsError(f"{image_dir}: no FRAME.png/.jpg images")
    return dict(sorted(frames.items()))


@dataclass
class Augment:
    """Random augmentation, the same for every frame of a window (thesis 4: flip, gamma; the scale augmentation is
    the model's, :attr:`TrackRCNN.scale_range`, as its transform resizes every image to its input size)."""

    flip: float = 0.5  # probability of a horizontal flip
    gamma: tuple[float, float] = (0.7, 1.4)  # range of the gamma factor applied to intensities

    def sample(self, rng: np.random.Generator) -> tuple[bool, float]:
        return bool(rng.random() < self.flip), float(rng.uniform(*self.gamma))


class FrameWindows(torch.utils.data.Dataset):
    """Every run of ``window`` consecutive annotated frames of the seqmap's sequences (stride ``step``).

    An item is ``(images, targets)``: ``window`` float tensors (3, H, W) in [0, 1] and torchvision-style target
    dicts with ``boxes`` (N, 4) xyxy, ``labels`` (N,) 1 car / 2 pedestrian, ``masks`` (N, H, W) uint8 and
    ``track_ids`` (N,) (KITTI ids ``class*1000+instance``) and ``ignore`` (H, W) bool (the frame's ignore regions).
    With ``transform`` (a family's ``window`` hook), an item is ``transform(images, targets, rng)``.
    """

    def __init__(self, root: str, seqmap: str, window: int = 8, step: int = 1, augment: Augment | None = None,
                 seed: int = 0, transform=None):
        self.root, self.window, self.augment, self.transform = root, window, augment, transform
        self.rng = np.random.default_rng(seed)
        self.sequences, self.items = {}, []
        for seq, (first, last) in formats.read_seqmap(seqmap).items():
            images = list_frames(os.path.join(root, "images", seq))
            gt = formats.read_txt(os.path.join(root, "instances_txt", f"{seq}.txt"), seq)
            gt = gt.subset((gt.frames >= first) & (gt.frames <= last))  # a seqmap range can split a sequence
            frames = [f for f in images if first <= f <= last]
            missing = sorted(set(gt.frames.tolist()) - set(images))
            if missing:
                raise MotsError(f"{os.path.join(root, 'images', seq)}: no image for annotated frames {missing[:5]}")
            self.sequences[seq] = (images, gt, gt.by_frame())
            for start in range(0, max(1, len(frames) - window + 1), step):
                self.items.append((seq, frames[start:start + window]))
        if not self.items:
            raise MotsError(f"{seqmap}: no frames found under {root}/images")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        seq, frames = self.items[index]
        images, gt, groups = self.sequences[seq]
        flip, gamma = self.augment.sample(self.rng) if self.augment else (False, 1.0)
        out_images, targets = [], []
        for f in frames:
            img = torch.from_numpy(read_image(images[f])).permute(2, 0, 1).float().div_(255.0)
            masks, ids, ignore = self._annotation(gt, groups.get(f, np.zeros(0, np.int64)), img.shape[1:], images[f])
            if flip:
                img, masks, ignore = img.flip(-1), masks.flip(-1), ignore.flip(-1)
            if gamma != 1.0:
                img = img.pow(gamma)
            out_images.append(img)
            targets.append({"boxes": masks_to_boxes(masks), "labels": ids // 1000, "masks": masks,
                            "track_ids": ids, "ignore": ignore})
        if self.transform is not None:
            return self.transform(out_images, targets, self.rng)
        return out_images, targets

    @staticmethod
    def _annotation(gt, idx: np.ndarray, size, image_path: str):
        """(instance masks (N, H, W) uint8, their ids (N,), ignore (H, W) bool) of one frame's annotation rows."""
        h, w = size
        ignored = gt.classes[idx] == formats.IGNORE
        decoded = (rle_ops.decode([gt.rles[i] for i in idx]).transpose(2, 0, 1) if len(idx)
                   else np.zeros((0, h, w), np.uint8))
        if decoded.shape[1:] != (h, w):
            raise MotsError(f"{image_path}: image size {(h, w)} differs from the annotation size "
                            f"{decoded.shape[1:]} in {gt.source}")
        masks = torch.from_numpy(np.ascontiguousarray(decoded[~ignored]))
        ignore = torch.from_numpy(decoded[ignored].any(0) if ignored.any() else np.zeros((h, w), bool))
        keep = masks.flatten(1).any(dim=1).bool()
        return masks[keep], torch.from_numpy(gt.ids[idx[~ignored]])[keep], ignore


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight xyxy boxes (pixel edges, so a one-pixel mask has width 1) of (N, H, W) masks."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    h, w = masks.shape[1:]
    y0 = rows.float().argmax(dim=1)
    y1 = h - rows.flip(1).float().argmax(dim=1)
    x0 = cols.float().argmax(dim=1)
    x1 = w - cols.flip(1).float().argmax(dim=1)
    return torch.stack([x0, y0, x1, y1], dim=1).float()


def collate_windows(batch):
    """A batch of windows stays a list; the model consumes one window (a time batch) at a time."""
    return batch
