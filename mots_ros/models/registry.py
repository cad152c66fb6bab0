"""Model families by architecture name (``arch`` in checkpoints; DESIGN.md). A checkpoint without ``arch`` was
written before there were two families and is TrackR-CNN."""
from __future__ import annotations

import importlib

from mots_ros import MotsError

# arch -> "module:callable" building the net from its config (imported on demand: a family's imports stay its own)
ARCHS = {
    "trackrcnn": "mots_ros.models.trackrcnn:TrackRCNN",
    "pixel_embedding": "mots_ros.models.pixel_embedding.model:build_pixel_embedding",
}
# arch -> "module:class" of the family's training hooks (models.base.TrainingFamily), used by `mots train`
TRAINING = {
    "trackrcnn": "mots_ros.models.trackrcnn_train:TrackRCNNTraining",
    "pixel_embedding": "mots_ros.models.pixel_embedding.train:PixelTraining",
}
DEFAULT_ARCH = "trackrcnn"  # checkpoints without 'arch'
MODEL_TYPES = ("auto", *ARCHS)


def _load(table: dict, arch: str, source: str):
    if not isinstance(arch, str) or arch not in table:
        raise MotsError(f"{source}: unknown model arch {arch!r} (known: {', '.join(table)})")
    module, name = table[arch].split(":")
    return getattr(importlib.import_module(module), name)


def builder(arch: str, source: str = "checkpoint"):
    """The callable building ``arch`` from keyword arguments; an unknown name is a :class:`MotsError` naming
    ``source`` (the file it came from)."""
    return _load(ARCHS, arch, source)


def training(arch: str, source: str = "config"):
    """The training hooks class of ``arch`` (:class:`~mots_ros.models.base.TrainingFamily`); an unknown name is a
    :class:`MotsError` naming ``source``."""
    return _load(TRAINING, arch, source)


def check_model_type(model_type: str, arch: str, source: str) -> None:
    """``model_type`` (``'auto'`` or an arch) must fit the checkpoint's ``arch``; else a MotsError naming the file."""
    if model_type not in MODEL_TYPES:
        raise MotsError(f"model_type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    if model_type != "auto" and model_type != arch:
        raise MotsError(f"{source}: a {arch} checkpoint, but model_type {model_type!r} was asked for (use "
                        f"model_type 'auto' or a {model_type} checkpoint)")
