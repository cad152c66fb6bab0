"""What the pixel-embedding family contributes to `mots train` (thesis 6.2.4): random crop and resize of a whole
window, per-pixel targets with the ignore regions, and its losses.

A window of frames (already flipped and gamma-corrected by :class:`~mots_ros.data.windows.FrameWindows`) is cut to
one random region, the same for every frame, and resized to ``train.crop`` (384 x 384 in the thesis setting). The
region covers ``crop / (r * f)`` image pixels, where ``r`` is the model's own input scale (its ``min_size`` /
``max_size`` resize, 1 without one) and ``f`` a zoom factor drawn from ``train.scale``: at f = 1 objects have the
size the network sees at test time. Targets are sampled at the output pixels' centres from the uncut annotation
region (:func:`~mots_ros.models.pixel_embedding.losses.pixel_targets`), so masks are never resized. Without
``train.crop`` the frames go whole through the model's resize.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .losses import pixel_targets
from .model import input_size


class PixelTraining:
    """The family's training hooks (:class:`~mots_ros.models.base.TrainingFamily`). Holds plain values only: the
    data loader's worker processes receive a copy."""

    def __init__(self, model, cfg):
        self.crop = tuple(int(c) for c in cfg.crop) if cfg.crop else None
        self.scale = tuple(cfg.scale)
        self.stride = model.output_stride
        self.min_size, self.max_size = model.min_size, model.max_size

    def region(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(top, left, rows, cols) of a random crop region of a (height, width) frame (see the module doc)."""
        r = input_size(height, width, self.min_size, self.max_size)[0] / height
        f = float(rng.uniform(*self.scale))
        rows = min(height, max(1, round(self.crop[0] / (r * f))))
        cols = min(width, max(1, round(self.crop[1] / (r * f))))
        return int(rng.integers(height - rows + 1)), int(rng.integers(width - cols + 1)), rows, cols

    def window(self, images: list[torch.Tensor], targets: list[dict], rng: np.random.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
        """(frames (T, 3, h, w), class targets (T, h', w'), instance targets (T, h', w'), whether the frames are
        at the network's input size already) of one window."""
        frames = torch.stack(images)
        height, width = frames.shape[-2:]
        masks = [t["masks"] for t in targets]
        ignore = [t["ignore"] for t in targets]
        if self.crop:
            top, left, rows, cols = self.region(height, width, rng)
            cut = (slice(top, top + rows), slice(left, left + cols))
            frames = F.interpolate(frames[..., cut[0], cut[1]], size=self.crop, mode="bilinear", align_corners=False)
            masks = [m[:, cut[0], cut[1]] for m in masks]
            ignore = [i[cut[0], cut[1]] for i in ignore]
            size = self.crop
        else:
            size = input_size(height, width, self.min_size, self.max_size)
        out = (-(-size[0] // self.stride), -(-size[1] // self.stride))
        pairs = [pixel_targets(m, t["track_ids"], i, out, size, self.stride) for m, t, i in zip(masks, targets, ignore)]
        return frames, torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]), bool(self.crop)

    @staticmethod
    def losses(net, sample, device: torch.device) -> dict[str, torch.Tensor]:
        """Named losses of one window through ``net`` (the model or its DistributedDataParallel wrapper)."""
        frames, classes, instances, cropped = sample
        logits, embeddings, offsets, past = net(frames.to(device, non_blocking=True), resize=not cropped)
        model = getattr(net, "module", net)
        return model.loss(logits, embeddings, classes.to(device), instances.to(device), offsets, past=past)
