"""What TrackR-CNN contributes to `mots train` (thesis 3-4): box / mask / track-id targets per frame, its scale
jitter (the model's, :attr:`TrackRCNN.scale_range`, as its transform resizes every image) and its losses."""
from __future__ import annotations

import numpy as np
import torch


class TrackRCNNTraining:
    """The family's training hooks (:class:`~mots_ros.models.base.TrainingFamily`)."""

    def __init__(self, model, cfg):
        if cfg.crop:
            raise ValueError("train.crop is a pixel_embedding option; TrackR-CNN resizes whole frames (model "
                             "min_size / max_size, jittered by train.scale)")
        model.scale_range = tuple(cfg.scale)

    @staticmethod
    def window(images: list[torch.Tensor], targets: list[dict], rng: np.random.Generator):
        """The frames and their target dicts; ignore regions are not TrackR-CNN targets."""
        return images, [{k: v for k, v in t.items() if k != "ignore"} for t in targets]

    @staticmethod
    def losses(net, sample, device: torch.device) -> dict[str, torch.Tensor]:
        """Named losses of one window through ``net`` (the model or its DistributedDataParallel wrapper)."""
        images, targets = sample
        images = [i.to(device, non_blocking=True) for i in images]
        return net(images, [{k: v.to(device) for k, v in t.items()} for t in targets])
