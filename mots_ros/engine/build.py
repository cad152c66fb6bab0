"""A ready stream from a checkpoint (DESIGN.md: one function for every entry point): `mots infer`, `mots run`,
the inference node (and through it `mots demo` and `mots bag evaluate`) and the benchmarks."""
from __future__ import annotations

import os
from typing import Callable

import torch

from mots_ros import MotsError
from mots_ros.models.streaming import StreamingModel

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CHECKPOINT = os.path.join(PACKAGE_DIR, "weights", "trackrcnn_demo.pt")
DEMO_TRACKER = os.path.join(PACKAGE_DIR, "weights", "tracker_demo.yaml")
PIXEL_CHECKPOINT = os.path.join(PACKAGE_DIR, "weights", "pixel_embedding_demo.pt")
PIXEL_TRACKER = os.path.join(PACKAGE_DIR, "weights", "pixel_tracker_demo.yaml")  # clustering + linking
# the pixel model with space-time votes (thesis 6.3) and its tuned clustering + vote linker (`--checkpoint`)
VOTES_CHECKPOINT = os.path.join(PACKAGE_DIR, "weights", "pixel_votes_demo.pt")
VOTES_TRACKER = os.path.join(PACKAGE_DIR, "weights", "pixel_votes_tracker_demo.yaml")
# the fast pixel model (separable convolutions, output stride 8; issue 12's speed goal) and its tuned file
SEPARABLE_CHECKPOINT = os.path.join(PACKAGE_DIR, "weights", "pixel_separable_demo.pt")
SEPARABLE_TRACKER = os.path.join(PACKAGE_DIR, "weights", "pixel_separable_tracker_demo.yaml")
# family -> (checkpoint, tuned parameter file) shipped in mots_ros/weights
DEMO_WEIGHTS = {"trackrcnn": (DEMO_CHECKPOINT, DEMO_TRACKER), "pixel_embedding": (PIXEL_CHECKPOINT, PIXEL_TRACKER)}
DEMO_MODELS = tuple(DEMO_WEIGHTS)


def demo_files(model: str = "trackrcnn") -> tuple[str, str]:
    """(checkpoint, tuned parameter file) of the shipped demo weights of family ``model`` (``--model``)."""
    if model not in DEMO_WEIGHTS:
        raise MotsError(f"--model must be one of {', '.join(DEMO_MODELS)}, got {model!r}")
    return DEMO_WEIGHTS[model]


def resolve_device(device: str | None, fallback: Callable[[str], None] | None = None) -> torch.device:
    """``None`` / ``'auto'``: CUDA when available, else the CPU. An unavailable CUDA device is a MotsError, or, with
    ``fallback`` (a warning callback, e.g. a node's logger), the CPU after calling it."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        if fallback is None:
            raise MotsError(f"--device {device}: no CUDA device available (use --device cpu)")
        fallback(f"device {device!r}: no CUDA device available, running on the CPU")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise MotsError(f"device {device!r}: {e}") from None


def build_stream(checkpoint: str | None = None, device: str | torch.device | None = None,
                 lookahead: int | None = None, score_threshold: float | None = None,
                 input_size: tuple[int, int] = (0, 0), model_type: str = "auto", precision: str = "float32",
                 fallback: Callable[[str], None] | None = None, clustering=None) -> StreamingModel:
    """The :class:`StreamingModel` of ``checkpoint`` (None: the shipped demo weights) on ``device``.

    ``lookahead`` None: the checkpoint's; ``input_size`` (min, max) side after resizing, 0: the checkpoint's;
    ``model_type`` ``'auto'`` or the arch the checkpoint must have. ``precision``: float32, bfloat16 or float16
    (:class:`StreamingModel`). With ``fallback`` (a warning callback) an unavailable GPU and float16 off CUDA fall
    back to the CPU / float32 instead of failing. ``clustering``
    (a :class:`~mots_ros.tracking.cluster.ClusterConfig`): the clustering of a pixel-embedding model (None: the
    thesis's defaults; TrackR-CNN models have none).
    """
    from mots_ros.models.weights import build_from_checkpoint

    if checkpoint is None:
        if not os.path.exists(DEMO_CHECKPOINT):
            raise MotsError(f"no checkpoint given and the demo weights {DEMO_CHECKPOINT} are not installed")
        checkpoint = DEMO_CHECKPOINT
    device = device if isinstance(device, torch.device) else resolve_device(device, fallback)
    if precision == "float16" and device.type != "cuda" and fallback is not None:
        fallback("float16 precision needs a CUDA device; running in float32")
        precision = "float32"
    model = build_from_checkpoint(checkpoint, model_type)
    model.set_input_size(*input_size)
    if clustering is not None and hasattr(model, "clustering"):
        try:
            model.clustering = clustering
        except MotsError as e:
            raise MotsError(f"{checkpoint}: {e}") from None
    return StreamingModel(model, lookahead=lookahead, device=device, score_threshold=score_threshold,
                          precision=precision)
