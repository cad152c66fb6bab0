"""Frame-by-frame inference of any model family (DESIGN.md data flow; thesis ch. 3, 6.2): ``push`` an image, get
the detections of the frame ``lookahead`` frames back.

The net (:class:`~mots_ros.models.base.StreamableNet`) encodes each frame once; the temporal block advances one
time step per frame on ring buffers of layer inputs (:class:`~mots_ros.models.temporal.TemporalStream`), so nothing
is recomputed for overlapping windows. The window of output frame t is frames ``t-(R-1-k) .. t+k``
(:func:`~mots_ros.models.temporal.temporal_window`): the first frame is replicated at the sequence start,
``flush()`` replicates the last one at the end. This equals the net's batch forward over the same padded windows.

Note: a model trained with the centred window (lookahead k = L) and streamed with a smaller k sees its frame
``L - k`` steps off centre; stream with the lookahead it was trained with (the default) unless it was trained so.
"""
from __future__ import annotations

from collections import deque
from contextlib import nullcontext

import numpy as np
import torch

from mots_ros import MotsError
from mots_ros.tracking.types import FrameDetections

from .base import StreamableNet
from .temporal import TemporalStream

PRECISIONS = ("float32", "bfloat16", "float16")


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with the weights of its 2D convolutions in the channels-last layout, which the CPU's convolution
    kernels (oneDNN) compute in without reordering: their outputs follow it (benchmarks/bench_pixel.py)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return model


class StreamingModel:
    """Streaming inference: one :meth:`push` per frame -> 0 or 1 :class:`FrameDetections`.

    Args:
        model: a :class:`~mots_ros.models.base.StreamableNet` (moved to ``device``, put in eval mode, cast to
            float16 with ``precision`` ``'float16'``).
        lookahead: future frames k in a frame's window (None: the model's ``lookahead``, the centred window it was
            trained with); the detections of frame t come out when frame t + k is pushed.
        score_threshold: keep detections scoring at least this (None: all the model returns).
        precision: ``'float32'``; ``'bfloat16'``: autocast, the convolutions and matrix products in bfloat16,
            the weights in float32 (fast on CPUs with AVX-512 BF16 or AMX, and on GPUs); ``'float16'``: weights
            and inputs in float16 (CUDA only).
    """

    def __init__(self, model: StreamableNet, lookahead: int | None = None, device: str | torch.device = "cpu",
                 score_threshold: float | None = None, precision: str = "float32"):
        if not isinstance(model, StreamableNet):
            raise TypeError(f"{type(model).__name__} lacks the net interface (encode, decode, temporal, ...)")
        self.device = torch.device(device)
        if precision not in PRECISIONS:
            raise MotsError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "float16" and self.device.type != "cuda":
            raise MotsError(f"float16 precision needs a CUDA device, got {self.device}")
        self.precision = precision
        self.dtype = torch.float16 if precision == "float16" else torch.float32
        self.model = channels_last(model.eval().to(self.device, self.dtype))
        self.lookahead = model.lookahead if lookahead is None else lookahead
        if not 0 <= self.lookahead < model.receptive_field:
            raise ValueError(f"lookahead must be in 0..{model.receptive_field - 1}, got {self.lookahead}")
        self.score_threshold = score_threshold
        self._stream = TemporalStream(model.temporal) if model.temporal is not None else None
        self._input: torch.Tensor | None = None  # (3, H, W) input buffer, reused while the image size stays
        self.reset()

    def reset(self) -> None:
        """Forget the current sequence (buffered features and frames waiting for their lookahead)."""
        if self._stream is not None:
            self._stream.reset()
        self._pending: deque[tuple[int, int, object]] = deque()  # (frame, stamp, context) waiting for output
        self._pushed = 0  # time steps fed to the temporal block (replicated last frames included)
        self._last = None  # encoded features of the newest real frame

    @torch.inference_mode()
    def push(self, image: np.ndarray, frame: int, stamp: int) -> list[FrameDetections]:
        """Add an (H, W, 3) uint8 RGB image; returns the detections of frame ``frame - lookahead`` once available
        (an empty list while the first ``lookahead`` frames fill the window)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise MotsError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        if self._last is not None and self._input.shape[1:] != (h, w):
            raise MotsError(f"image size changed within a sequence ({tuple(self._input.shape[1:])} -> {(h, w)}): "
                            f"call flush() or reset() first")
        if self._input is None or self._input.shape[1:] != (h, w):
            self._input = torch.empty((3, h, w), dtype=self.dtype, device=self.device)
        if min(image.strides) < 0:  # e.g. an OpenCV BGR frame viewed as RGB; torch.from_numpy refuses such views
            image = np.ascontiguousarray(image)
        self._input.copy_(torch.from_numpy(image).permute(2, 0, 1)).div_(255.0)
        with self._autocast():
            context, self._last = self.model.encode(self._input)
        self._pending.append((frame, stamp, context))
        return self._advance()

    @torch.inference_mode()
    def flush(self) -> list[FrameDetections]:
        """End the sequence: the detections of the frames still waiting (last frame replicated); then reset."""
        out = []
        while self._pending:
            out += self._advance()
        self.reset()
        return out

    def warm_up(self, height: int, width: int) -> None:
        """Run one black frame of ``height`` x ``width`` through the whole window and forget it: the first frame
        of a process pays one-time costs (kernel selection, allocator, thread pools) that a node pays at start-up
        this way, before it takes camera frames."""
        self.reset()
        for frame in range(self.lookahead + 1):
            self.push(np.zeros((height, width, 3), np.uint8), frame, frame)
        self.reset()

    def _autocast(self):
        """The bfloat16 autocast context of ``precision`` 'bfloat16' (else a no-op)."""
        if self.precision != "bfloat16":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _advance(self) -> list[FrameDetections]:
        """Feed the newest features to the temporal block once; decode the oldest waiting frame if its window is
        complete."""
        feats = self._last
        ready = self._pushed >= self.lookahead
        self._pushed += 1
        with self._autocast():
            if self._stream is not None:
                feats = self._stream.push(feats, output=ready)
            if not ready:
                return []
            frame, stamp, context = self._pending.popleft()
            h, w = self._input.shape[1:]
            return [self.model.decode(context, feats, frame, stamp, h, w, self.score_threshold)]
