"""TrackR-CNN outputs -> :class:`FrameDetections` (thesis ch. 3): boxes back to image coordinates, 28x28 mask
probabilities pasted into their boxes as binary RLE masks, association vectors."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks
from torchvision.models.detection.transform import resize_boxes

from mots_ros.data import rle
from mots_ros.tracking.types import FrameDetections


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
