"""Frame-by-frame TrackR-CNN inference (thesis ch. 3; DESIGN.md data flow): ``push`` an image, get the detections
of the frame ``lookahead`` frames back.

Backbone + FPN run once per frame; the temporal block advances one time step per frame on ring buffers of layer
inputs (:class:`~mots_ros.models.temporal.TemporalStream`), so nothing is recomputed for overlapping windows. The
window of output frame t is frames ``t-(R-1-k) .. t+k`` (:func:`~mots_ros.models.temporal.temporal_window`): the
first frame is replicated at the sequence start, ``flush()`` replicates the last one at the end. This equals the
batch forward of :class:`~mots_ros.models.trackrcnn.TrackRCNN` over the same padded windows.

Note: a model trained with the centred window (lookahead k = L) and streamed with a smaller k sees its frame
``L - k`` steps off centre; stream with the lookahead it was trained with (the default) unless it was trained so.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks
from torchvision.models.detection.transform import resize_boxes

from mots_ros import MotsError
from mots_ros.data import rle
from mots_ros.tracking.types import FrameDetections

from .temporal import TemporalStream
from .trackrcnn import TrackRCNN


def paste_masks_binary(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                       threshold: float = 0.5) -> np.ndarray:
    """Binary full-image masks (H, W, N) uint8, Fortran order (ready for RLE), from (N, 1, M, M) probabilities.

    The same numbers as thresholding torchvision's ``paste_masks_in_image`` at ``>= threshold``, but each mask is
    resized and thresholded inside its box only: no float image per detection.
    """
    out = np.zeros((len(masks), width, height), np.uint8)
    masks, scale = expand_masks(masks.float().cpu(), padding=1)  # small (N, 1, 30, 30): one transfer, then CPU
    for i, (x0, y0, x1, y1) in enumerate(expand_boxes(boxes.float().cpu(), scale).to(torch.int64).tolist()):
        xa, xb, ya, yb = max(x0, 0), min(x1 + 1, width), max(y0, 0), min(y1 + 1, height)
        if xa >= xb or ya >= yb:
            continue
        size = (max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1))
        m = F.interpolate(masks[i:i + 1], size=size, mode="bilinear", align_corners=False)[0, 0]
        out[i, xa:xb, ya:yb] = (m[ya - y0:yb - y0, xa - x0:xb - x0] >= threshold).T.numpy()
    return out.transpose(2, 1, 0)


def frame_detections(det: dict, resized_size: tuple[int, int], frame: int, stamp: int, height: int, width: int,
                     score_threshold: float | None = None, mask_threshold: float = 0.5) -> FrameDetections:
    """:class:`FrameDetections` of one image from the eval output of :meth:`TrackRCNN.heads` (boxes in the
    coordinates of the image resized to ``resized_size``, 28x28 mask probabilities, embeddings)."""
    if score_threshold is not None:
        keep = det["scores"] >= score_threshold
        det = {k: v[keep] for k, v in det.items()}
    if not len(det["scores"]):
        return FrameDetections.empty(frame, stamp, height, width, det["embeddings"].shape[1])
    boxes = resize_boxes(det["boxes"], resized_size, (height, width))
    masks = rle.encode(paste_masks_binary(det["masks"], boxes, height, width, mask_threshold))
    return FrameDetections(frame, stamp, height, width, boxes.float().cpu().numpy(),
                           det["scores"].float().cpu().numpy(), det["labels"].cpu().numpy().astype(np.int64), masks,
                           det["embeddings"].float().cpu().numpy())


class StreamingModel:
    """Streaming TrackR-CNN: one :meth:`push` per frame -> 0 or 1 :class:`FrameDetections`.

    Args:
        model: a :class:`TrackRCNN` (moved to ``device``, put in eval mode, half precision with ``half``).
        lookahead: future frames k in a frame's window (None: the model's ``lookahead``, the centred window it was
            trained with); the detections of frame t come out when frame t + k is pushed.
        score_threshold: keep detections scoring at least this (None: all the model returns).
        mask_threshold: probability at which masks become binary (0.5).
        half: float16 on a CUDA device.
    """

    def __init__(self, model: TrackRCNN, lookahead: int | None = None, device: str | torch.device = "cpu",
                 score_threshold: float | None = None, mask_threshold: float = 0.5, half: bool = False):
        self.device = torch.device(device)
        if half and self.device.type != "cuda":
            raise MotsError(f"half precision needs a CUDA device, got {self.device}")
        self.dtype = torch.float16 if half else torch.float32
        self.model = model.eval().to(self.device, self.dtype)
        self.lookahead = model.lookahead if lookahead is None else lookahead
        if not 0 <= self.lookahead < model.receptive_field:
            raise ValueError(f"lookahead must be in 0..{model.receptive_field - 1}, got {self.lookahead}")
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self._stream = TemporalStream(model.temporal) if model.temporal is not None else None
        self._input: torch.Tensor | None = None  # (3, H, W) input buffer, reused while the image size stays
        self.reset()

    def reset(self) -> None:
        """Forget the current sequence (buffered features and frames waiting for their lookahead)."""
        if self._stream is not None:
            self._stream.reset()
        self._pending: deque[tuple[int, int]] = deque()  # (frame, stamp) waiting for output
        self._pushed = 0  # time steps fed to the temporal block (replicated last frames included)
        self._last = None  # (image list, features) of the newest real frame

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
        self._input.copy_(torch.from_numpy(image).permute(2, 0, 1)).div_(255.0)
        image_list, feats, _ = self.model.features([self._input])
        self._last = (image_list, feats)
        self._pending.append((frame, stamp))
        return self._advance()

    @torch.inference_mode()
    def flush(self) -> list[FrameDetections]:
        """End the sequence: the detections of the frames still waiting (last frame replicated); then reset."""
        out = []
        while self._pending:
            out += self._advance()
        self.reset()
        return out

    def _advance(self) -> list[FrameDetections]:
        """Feed the newest features to the temporal block once; emit the oldest waiting frame if its window is
        complete."""
        image_list, feats = self._last
        ready = self._pushed >= self.lookahead
        self._pushed += 1
        if self._stream is not None:
            feats = self._stream.push(feats, output=ready)
        if not ready:
            return []
        frame, stamp = self._pending.popleft()
        return [self._detections(image_list, feats, frame, stamp)]

    def _detections(self, image_list, feats, frame: int, stamp: int) -> FrameDetections:
        det = self.model.heads(image_list, feats)[0][0]
        h, w = self._input.shape[1:]
        return frame_detections(det, image_list.image_sizes[0], frame, stamp, h, w, self.score_threshold,
                                self.mask_threshold)
