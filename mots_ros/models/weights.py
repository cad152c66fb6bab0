"""Checkpoints and pretrained weights, read locally only (thesis §4.4: pretraining matters; nothing is downloaded).

A checkpoint is ``{'arch': name, 'model': state_dict, 'config': net.config, ...}`` read with
``torch.load(weights_only=True)``; ``arch`` names the model family (:mod:`mots_ros.models.registry`; a file
without it is TrackR-CNN). Pretrained torchvision weights are looked up under the torchvision file name
in the torch hub checkpoint dir (``torch.hub.get_dir()/checkpoints``) or at an explicit path. Every failure is a
:class:`mots_ros.MotsError` naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from mots_ros import MotsError

PRETRAINED = (None, "imagenet", "coco")
_CLASS_SPECIFIC = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")
_OWN = ("temporal.", "assoc_head.")


def _weights_enum(backbone: str, pretrained: str):
    if pretrained == "coco":
        if backbone != "resnet50":
            raise MotsError(f"torchvision has COCO Mask R-CNN weights for resnet50 only, not {backbone}: use "
                            f"pretrained='imagenet' or a TrackR-CNN checkpoint")
        return torchvision.models.detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1
    enum = torchvision.models.get_model_weights(backbone)
    return enum.IMAGENET1K_V1


def pretrained_file(backbone: str, pretrained: str) -> Path:
    """Where torchvision would cache the weights: ``torch.hub.get_dir()/checkpoints/<torchvision file name>``."""
    url = _weights_enum(backbone, pretrained).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def read(path: str | os.PathLike) -> object:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with errors as :class:`MotsError`."""
    path = Path(path)
    if path.is_dir():
        raise MotsError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise MotsError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to unpickle/unzip means the file is not a usable checkpoint
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MotsError(f"{path}: not a readable torch weights file (corrupt, truncated or not saved by torch.save "
                        f"of tensors): {first}") from e


def _check_compatible(module: nn.Module, state: dict, path, allow_missing: tuple[str, ...] = ()) -> None:
    """Raise :class:`MotsError` listing a few missing / unexpected keys and shape mismatches."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(allow_missing)]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{what} ({len(keys)}): {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                   ("shape mismatches (file vs model)", shapes)) if keys]
    if problems:
        raise MotsError(f"{path}: weights do not fit the model: " + "; ".join(problems))


def load_pretrained(model: nn.Module, pretrained: str | None, path: str | os.PathLike | None = None) -> None:
    """Initialise ``model`` (a TrackRCNN) from torchvision weights on disk, never downloading.

    ``'imagenet'``: the backbone (ResNet / MobileNetV3 ImageNet weights); ``'coco'``: torchvision's COCO Mask
    R-CNN (resnet50), all layers but the class-specific predictors when the class count differs and the TrackR-CNN
    additions (temporal block, association head). ``path`` overrides :func:`pretrained_file`. None does nothing.
    """
    if pretrained is None:
        return
    backbone = model.config["backbone"]
    file = Path(path) if path else pretrained_file(backbone, pretrained)
    if not file.is_file():
        raise MotsError(f"{pretrained} weights for {backbone} not found: expected {file} (copy torchvision's file "
                        f"there or pass weights_path; nothing is downloaded)")
    state = read(file)
    if not isinstance(state, dict):
        raise MotsError(f"{file}: expected a state dict, got {type(state).__name__}")
    if pretrained == "imagenet":
        target = model.backbone.body
        if backbone.startswith("mobilenet"):  # the body is ``features``; the classifier is not used
            state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        else:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        allow_missing = ()
    else:
        target = model
        own = model.state_dict()
        state = {k: v for k, v in state.items()
                 if not (k.startswith(_CLASS_SPECIFIC) and k in own and own[k].shape != v.shape)}
        allow_missing = _OWN + _CLASS_SPECIFIC
    own = target.state_dict()  # frozen batch norm keeps no num_batches_tracked
    state = {k: v for k, v in state.items() if k in own or not k.endswith(".num_batches_tracked")}
    _check_compatible(target, state, file, allow_missing)
    target.load_state_dict(state, strict=False)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, half: bool = False, **extra) -> None:
    """Write ``{'arch': model.arch, 'model': state_dict, 'config': model.config, **extra}`` atomically (temp file +
    rename).

    ``half``: floating-point weights stored as float16 (half the file; loading casts them back to the model's
    precision)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = model.state_dict()
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"arch": model.arch, "model": state, "config": dict(model.config), **extra}, tmp)
    os.replace(tmp, path)


def _checkpoint(path) -> dict:
    ckpt = read(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise MotsError(f"{path}: not a mots_ros checkpoint (expected a dict with 'model' and 'config')")
    return ckpt


def _load_state(model: nn.Module, ckpt: dict, path) -> None:
    _check_compatible(model, ckpt["model"], path)
    model.load_state_dict(ckpt["model"])


def load_checkpoint(path: str | os.PathLike, model: nn.Module) -> dict:
    """Load the weights of checkpoint ``path`` into ``model``; returns the whole checkpoint dict."""
    ckpt = _checkpoint(path)
    _load_state(model, ckpt, path)
    return ckpt


def load_matching(path: str | os.PathLike, model: nn.Module) -> list[str]:
    """Copy the tensors of checkpoint ``path`` into ``model`` wherever name and shape match (warm start of a
    changed model); returns the names of the model's tensors that were not loaded."""
    ckpt = _checkpoint(path)
    own = model.state_dict()
    state = {k: v for k, v in ckpt["model"].items() if k in own and own[k].shape == v.shape}
    if not state:
        raise MotsError(f"{path}: no tensor matches the model in name and shape")
    model.load_state_dict(state, strict=False)
    return sorted(set(own) - set(state))


def build_from_checkpoint(path: str | os.PathLike, model_type: str = "auto") -> nn.Module:
    """The net of the checkpoint's ``arch`` (TrackR-CNN without one) built from its config with its weights (on CPU,
    in train mode like any new module; pretrained weights are not read again). ``model_type``: ``'auto'`` or the
    arch the caller expects (another one is a MotsError naming the file)."""
    from .registry import DEFAULT_ARCH, builder, check_model_type

    ckpt = _checkpoint(path)
    arch = ckpt.get("arch", DEFAULT_ARCH)
    build = builder(arch, str(path))
    check_model_type(model_type, arch, str(path))
    config = ckpt.get("config")
    if not isinstance(config, dict):
        raise MotsError(f"{path}: checkpoint has no 'config' dict of {arch} arguments")
    try:
        model = build(**{**config, "pretrained": None, "weights_path": None})
    except (TypeError, ValueError) as e:
        raise MotsError(f"{path}: config does not describe a {arch} model: {e}") from e
    model.config.update(pretrained=config.get("pretrained"), weights_path=config.get("weights_path"))
    _load_state(model, ckpt, path)
    return model
