"""The net interface every model family implements (DESIGN.md: one streaming model, two families).

:class:`~mots_ros.models.streaming.StreamingModel` knows nothing else about a network: ``encode`` runs once per
frame; what it returns in ``features`` goes through the temporal block's ring buffer (when the net has one), what it
returns in ``context`` waits with the frame until its window is complete; ``decode`` turns the temporal output of
frame t into :class:`~mots_ros.tracking.types.FrameDetections`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from mots_ros.tracking.types import FrameDetections

from .temporal import TemporalBlock


@runtime_checkable
class StreamableNet(Protocol):
    """A network :class:`~mots_ros.models.streaming.StreamingModel` can drive (TrackR-CNN, pixel embeddings).

    Attributes: ``arch`` (the registry name stored in checkpoints), ``config`` (constructor arguments, stored in
    checkpoints), ``temporal`` (the :class:`TemporalBlock` applied to ``features``, or None), ``receptive_field``
    (frames in a window, 1 without temporal block) and ``lookahead`` (future frames of the window it was trained
    with).
    """

    arch: str
    config: dict
    temporal: TemporalBlock | None
    lookahead: int

    @property
    def receptive_field(self) -> int: ...

    def encode(self, image: torch.Tensor) -> tuple[object, dict[str, torch.Tensor]]:
        """One (3, H, W) float 0..1 image -> (per-frame context kept for its decode, level -> (1, C, h, w) inputs of
        the temporal block)."""

    def decode(self, context: object, features: dict[str, torch.Tensor], frame: int, stamp: int, height: int,
               width: int, score_threshold: float | None = None) -> FrameDetections:
        """The detections of one frame from its context and the temporal output of its window, in the coordinates of
        the (height, width) input image; detections scoring below ``score_threshold`` are dropped."""

    def set_input_size(self, min_size: int, max_size: int) -> None:
        """Resize inputs to shorter side ``min_size`` with longer side at most ``max_size`` (0 keeps a value)."""


class TrainingFamily(Protocol):
    """What a model family contributes to the one training loop of `mots train` (:mod:`mots_ros.engine.train`):
    built as ``Family(model, train_config)`` (it may set the model's training-time options), its ``window`` runs
    in the data loader's worker processes (so it keeps plain values only), its ``losses`` in the loop."""

    def window(self, images: list[torch.Tensor], targets: list[dict], rng: np.random.Generator) -> object:
        """The family's training sample of one window: ``images`` (3, H, W) float 0..1 and per-frame target dicts
        (``boxes``, ``labels``, ``masks``, ``track_ids``, ``ignore``; :class:`~mots_ros.data.windows.FrameWindows`)
        after flip and gamma; the family's own augmentation (crops, ...) and targets."""

    def losses(self, net, sample: object, device: torch.device) -> dict[str, torch.Tensor]:
        """Named losses (summed by the loop) of one sample through ``net``, the model or its DDP wrapper."""
