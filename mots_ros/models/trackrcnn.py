"""TrackR-CNN (thesis ch. 3, ch. 4): torchvision Mask R-CNN with FPN + temporal 3D convolutions + association head.

* Backbone (``resnet18/34/50/101`` or ``mobilenet_v3_large``) with FPN, built by torchvision's
  ``_resnet_fpn_extractor`` / ``_mobilenet_extractor``; pretrained weights only from local files (see
  :mod:`mots_ros.models.weights`).
* One :class:`~mots_ros.models.temporal.TemporalBlock` (2 identity-initialised depthwise separable 3D convolutions
  by default, §4.5-4.6) shared by all FPN levels (all have 256 channels; one block keeps the parameter count of
  the thesis's single block on the backbone output), applied in front of the RPN (ch. 3) to every level, so RPN,
  box, mask and association heads all see temporal features.
* Association head (ch. 3, §4.3): RoIAlign 7x7 on the FPN levels at the detection boxes -> 2-layer MLP ->
  ``assoc_dim`` (128) vector per detection, trained with the batch hard triplet loss (eq. 2.7, margin 0.2, §4.2)
  over the ground-truth boxes of a batch (a window of consecutive frames), identities = track ids, per class.

The forward is split so that streaming reuses per-frame features: :meth:`TrackRCNN.features` (resize, normalise,
backbone + FPN per frame), :meth:`TrackRCNN.temporal_features` (the block over a window, edge padded),
:meth:`TrackRCNN.heads` (RPN, RoI heads, association; losses in training) and :meth:`TrackRCNN.postprocess`.
On CPU the 2D convolutions run in ``channels_last`` (resnet18-FPN at 384x1248 on this 2-core machine: 548 ms
instead of 1597 ms).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _mobilenet_extractor, _resnet_fpn_extractor
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import MultiScaleRoIAlign

from mots_ros.tracking.types import FrameDetections

from .losses import LOSSES, association_loss
from .temporal import INITS, TemporalBlock, pad_time
from .trackrcnn_decode import frame_detections
from .weights import PRETRAINED, load_pretrained

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_large")


class FrozenBatchNorm2d(torchvision.ops.FrozenBatchNorm2d):
    """torchvision's frozen batch norm (same buffers and state dict) computed by the fused ``batch_norm`` kernel,
    which keeps NHWC tensors NHWC (resnet18-FPN at 384x1248 on CPU: 548 ms instead of 1297 ms)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


def build_backbone(name: str, frozen_bn: bool, bn_eps: float, trainable_layers: int,
                   returned_layers: list[int] | None = None) -> nn.Module:
    """Backbone + FPN without weights (``out_channels`` 256, levels '0', '1', ... + 'pool').

    ``returned_layers``: the backbone stages fed to the FPN (torchvision's default when None: ResNet stages
    1-4 at strides 4-32; MobileNetV3 stages 4 and 5, both at stride 32 — add stage 2 (stride 8) and 3 (16) for
    small objects)."""
    norm = partial(FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d, eps=bn_eps)
    if name.startswith("resnet"):
        return _resnet_fpn_extractor(getattr(torchvision.models, name)(weights=None, norm_layer=norm),
                                     trainable_layers, returned_layers)
    return _mobilenet_extractor(torchvision.models.mobilenet_v3_large(weights=None, norm_layer=norm), True,
                                trainable_layers, returned_layers)


class AssociationHead(nn.Module):
    """RoIAlign (``resolution`` x ``resolution`` on the FPN levels) at given boxes -> Linear-ReLU-Linear ->
    ``out_dim`` association vector per box (thesis ch. 3)."""

    def __init__(self, in_channels: int = 256, out_dim: int = 128, resolution: int = 7, hidden: int = 1024):
        super().__init__()
        self.pool = MultiScaleRoIAlign(["0", "1", "2", "3"], resolution, sampling_ratio=2)
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * resolution ** 2, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_dim))

    def forward(self, features: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_sizes: list[tuple[int, int]]) -> torch.Tensor:
        """(sum of boxes, out_dim) for boxes (x0, y0, x1, y1) in the coordinates of the resized images."""
        return self.mlp(self.pool(features, boxes, image_sizes))


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


class TrackRCNN(MaskRCNN):
    """TrackR-CNN on torchvision's :class:`~torchvision.models.detection.MaskRCNN` (thesis ch. 3-4).

    Args:
        backbone: one of :data:`BACKBONES`.
        num_classes: including background (3: background, car, pedestrian).
        temporal_layers: separable 3D convolutions in the temporal block (2, §4.6); 0 disables it.
        temporal_init: ``'identity'`` (§4.5 default), ``'average'`` or ``'random'``.
        temporal_lookahead: future frames in the window of a frame in training and by default in streaming
            (None: ``temporal_layers``, the centred window of the thesis; 0: causal).
        assoc_dim: association vector size (128, §4.3).
        assoc_loss: one of :data:`~mots_ros.models.losses.LOSSES` (``'batch_hard'``, eq. 2.7).
        assoc_margin, assoc_weight, assoc_quantile: margin α (0.2, §4.2), weight λ (1.0, §4.2), p of
            ``'p_quantile'``.
        min_size, max_size: image resize of torchvision's ``GeneralizedRCNNTransform``.
        pretrained: None, ``'imagenet'`` (backbone) or ``'coco'`` (torchvision's COCO Mask R-CNN, resnet50 only;
            class-specific layers are skipped when ``num_classes`` differs), read from ``weights_path`` or the torch
            hub checkpoint dir, never downloaded (:func:`~mots_ros.models.weights.load_pretrained`).
        trainable_backbone_layers: None: 3 with pretrained weights, all without (as torchvision).
        frozen_bn: None: frozen batch norm with pretrained weights, ``nn.BatchNorm2d`` without (as torchvision).
        bn_eps: None: 0.0 for COCO weights (as torchvision), else 1e-5.
        returned_layers: backbone stages fed to the FPN (:func:`build_backbone`; None: torchvision's).
        anchor_sizes: anchor sizes in pixels per FPN level including 'pool' (same count per level), with aspect
            ratios 0.5, 1, 2 (None: torchvision's, (32, 64, 128, 256, 512) on every level for MobileNetV3).
        box_head_size, mask_head_layers, assoc_hidden: widths of the box head MLP, the mask head's convolutions and
            the association MLP (torchvision's 1024 / 4 x 256 and 1024 by default; smaller for compact models).
        **kwargs: further plain-valued :class:`~torchvision.models.detection.MaskRCNN` arguments (``box_score_thresh``,
            ``box_detections_per_img``, ``rpn_post_nms_top_n_test``, ...).

    ``self.config`` holds all arguments with the None defaults resolved (it is stored in checkpoints). Streaming
    goes through the net interface (:class:`~mots_ros.models.base.StreamableNet`): :meth:`encode`, :meth:`decode`.
    """

    arch = "trackrcnn"

    def __init__(self, backbone: str = "resnet50", num_classes: int = 3, temporal_layers: int = 2,
                 temporal_init: str = "identity", temporal_lookahead: int | None = None, assoc_dim: int = 128,
                 assoc_loss: str = "batch_hard", assoc_margin: float = 0.2, assoc_weight: float = 1.0,
                 assoc_quantile: float = 0.5, min_size: int = 800, max_size: int = 1333, pretrained: str | None = None,
                 weights_path: str | None = None, trainable_backbone_layers: int | None = None,
                 frozen_bn: bool | None = None, bn_eps: float | None = None, box_head_size: int = 1024,
                 mask_head_layers: tuple[int, ...] = (256, 256, 256, 256), assoc_hidden: int = 1024,
                 returned_layers: list[int] | None = None, anchor_sizes: list[list[int]] | None = None, **kwargs):
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        if pretrained not in PRETRAINED:
            raise ValueError(f"pretrained must be one of {PRETRAINED}, got {pretrained!r}")
        if temporal_init not in INITS:
            raise ValueError(f"temporal_init must be one of {INITS}, got {temporal_init!r}")
        if assoc_loss not in LOSSES:
            raise ValueError(f"assoc_loss must be one of {LOSSES}, got {assoc_loss!r}")
        if temporal_layers < 0:
            raise ValueError(f"temporal_layers must be >= 0, got {temporal_layers}")
        receptive_field = 2 * temporal_layers + 1
        temporal_lookahead = temporal_layers if temporal_lookahead is None else temporal_lookahead
        if not 0 <= temporal_lookahead < receptive_field:
            raise ValueError(f"temporal_lookahead must be in 0..{receptive_field - 1}, got {temporal_lookahead}")
        bad = sorted(k for k, v in kwargs.items() if not _plain(v))
        if bad:
            raise TypeError(f"MaskRCNN arguments must be plain values (numbers, strings, lists) to be stored in a "
                            f"checkpoint config: {', '.join(bad)}")
        if trainable_backbone_layers is None:
            trainable_backbone_layers = 3 if pretrained else (5 if backbone.startswith("resnet") else 6)
        frozen_bn = bool(pretrained) if frozen_bn is None else frozen_bn
        bn_eps = (0.0 if pretrained == "coco" else 1e-5) if bn_eps is None else bn_eps
        config = dict(backbone=backbone, num_classes=num_classes, temporal_layers=temporal_layers,
                      temporal_init=temporal_init, temporal_lookahead=temporal_lookahead, assoc_dim=assoc_dim,
                      assoc_loss=assoc_loss, assoc_margin=assoc_margin, assoc_weight=assoc_weight,
                      assoc_quantile=assoc_quantile, min_size=min_size, max_size=max_size, pretrained=pretrained,
                      weights_path=weights_path, trainable_backbone_layers=trainable_backbone_layers,
                      frozen_bn=frozen_bn, bn_eps=bn_eps, box_head_size=box_head_size,
                      mask_head_layers=list(mask_head_layers), assoc_hidden=assoc_hidden,
                      returned_layers=returned_layers, anchor_sizes=anchor_sizes, **kwargs)

        net = build_backbone(backbone, frozen_bn, bn_eps, trainable_backbone_layers, returned_layers)
        levels = len(net.fpn.inner_blocks) + 1  # + 'pool'
        if anchor_sizes is None and not backbone.startswith("resnet"):
            anchor_sizes = [[32, 64, 128, 256, 512]] * levels  # torchvision's anchors for MobileNetV3-FPN
        if anchor_sizes is not None:
            if len(anchor_sizes) != levels or len({len(a) for a in anchor_sizes}) != 1:
                raise ValueError(f"anchor_sizes needs {levels} lists of equal length (one per FPN level incl. "
                                 f"'pool'), got {anchor_sizes}")
            kwargs["rpn_anchor_generator"] = AnchorGenerator(tuple(tuple(a) for a in anchor_sizes),
                                                             ((0.5, 1.0, 2.0),) * levels)
        if box_head_size != 1024 or tuple(mask_head_layers) != (256, 256, 256, 256):
            # smaller RoI heads (torchvision's own otherwise, so that COCO weights fit)
            kwargs["box_head"] = TwoMLPHead(net.out_channels * 7 ** 2, box_head_size)
            kwargs["box_predictor"] = FastRCNNPredictor(box_head_size, num_classes)
            kwargs["mask_head"] = MaskRCNNHeads(net.out_channels, tuple(mask_head_layers), 1)
            kwargs["mask_predictor"] = MaskRCNNPredictor(mask_head_layers[-1], mask_head_layers[-1], num_classes)
        super().__init__(net, num_classes=None if "box_predictor" in kwargs or "mask_predictor" in kwargs
                         else num_classes, min_size=min_size, max_size=max_size, **kwargs)
        self.config = config
        self.lookahead = temporal_lookahead
        # training-time resize jitter (thesis 4: scale augmentation): one factor per call, i.e. per window, applied
        # to the transform's sizes; resizing the images beforehand would be undone by the transform
        self.scale_range = (1.0, 1.0)
        self.temporal = TemporalBlock(net.out_channels, temporal_layers, temporal_init) if temporal_layers else None
        self.assoc_head = AssociationHead(net.out_channels, assoc_dim, hidden=assoc_hidden)
        load_pretrained(self, pretrained, weights_path)
        # NHWC for the 2D convolutions (3x faster on CPU here); parameters keep it through load_state_dict / .to()
        self.backbone.to(memory_format=torch.channels_last)
        self.rpn.to(memory_format=torch.channels_last)

    @property
    def receptive_field(self) -> int:
        """Frames seen by the temporal block (1 without it)."""
        return self.temporal.receptive_field if self.temporal is not None else 1

    def features(self, images: list[torch.Tensor], targets: list[dict] | None = None
                 ) -> tuple[ImageList, OrderedDict, list[dict] | None]:
        """Resize + normalise ``images`` (list of (3, H, W) float 0..1) and run backbone + FPN on each.

        Returns (image list, FPN maps level -> (T, 256, h, w) NHWC, one per image, targets resized like the images).
        """
        t = self.transform
        sizes = t.min_size, t.max_size
        if self.training and tuple(self.scale_range) != (1.0, 1.0):
            factor = float(torch.empty(()).uniform_(*self.scale_range))
            t.min_size, t.max_size = tuple(round(s * factor) for s in sizes[0]), round(sizes[1] * factor)
        try:
            image_list, targets = t(images, targets)
        finally:
            t.min_size, t.max_size = sizes
        feats = self.backbone(image_list.tensors.contiguous(memory_format=torch.channels_last))
        return image_list, feats, targets

    def encode(self, image: torch.Tensor) -> tuple[ImageList, OrderedDict]:
        """Net interface: (resized image list, FPN maps level -> (1, 256, h, w)) of one (3, H, W) image."""
        image_list, feats, _ = self.features([image])
        return image_list, feats

    def decode(self, image_list: ImageList, features: OrderedDict, frame: int, stamp: int, height: int, width: int,
               score_threshold: float | None = None) -> FrameDetections:
        """Net interface: RPN, RoI and association heads on the temporal features of one frame -> detections."""
        det = self.heads(image_list, features)[0][0]
        return frame_detections(det, image_list.image_sizes[0], frame, stamp, height, width, score_threshold)

    def set_input_size(self, min_size: int, max_size: int) -> None:
        """Net interface: the transform's resize (0 keeps a value)."""
        if min_size > 0:
            self.transform.min_size = (int(min_size),)
        if max_size > 0:
            self.transform.max_size = int(max_size)

    def temporal_features(self, features: OrderedDict, pad: bool = True) -> OrderedDict:
        """The temporal block over the frames of ``features`` (level -> (T, C, h, w), consecutive frames).

        ``pad``: replicate the first frame ``R-1-k`` and the last ``k`` times (``k`` = ``self.lookahead``) so every
        frame gets an output (T outputs); without, the T - R + 1 valid outputs.
        """
        if self.temporal is None:
            return features
        before, after = (self.receptive_field - 1 - self.lookahead, self.lookahead) if pad else (0, 0)
        out = OrderedDict()
        for name, x in features.items():
            x = pad_time(x.permute(1, 0, 2, 3).unsqueeze(0), before, after)  # (1, C, T, h, w), NHWC -> NDHWC view
            out[name] = self.temporal(x).squeeze(0).permute(1, 0, 2, 3)
        return out

    def heads(self, image_list: ImageList, features: OrderedDict, targets: list[dict] | None = None
              ) -> tuple[list[dict], dict[str, torch.Tensor]]:
        """RPN, box / mask heads and association head on (temporal) features, one set per image of ``image_list``.

        Training (``targets`` resized by :meth:`features`, with ``track_ids``): ([], losses: torchvision's Mask
        R-CNN losses + ``loss_association``). Eval: (detections with ``boxes`` in resized-image coordinates,
        ``labels``, ``scores``, ``masks`` (N, 1, 28, 28) probabilities, ``embeddings`` (N, assoc_dim); {}).
        """
        proposals, losses = self.rpn(image_list, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        losses.update(detector_losses)
        if self.training:
            emb = self.assoc_head(features, [t["boxes"] for t in targets], image_list.image_sizes).float()
            ids = torch.cat([t["track_ids"] for t in targets])
            classes = torch.cat([t["labels"] for t in targets])
            cfg = self.config
            losses["loss_association"] = cfg["assoc_weight"] * association_loss(
                cfg["assoc_loss"], emb, ids, classes, cfg["assoc_margin"], cfg["assoc_quantile"])
            return [], losses
        emb = self.assoc_head(features, [d["boxes"] for d in detections], image_list.image_sizes)
        for det, e in zip(detections, emb.split([len(d["boxes"]) for d in detections])):
            det["embeddings"] = e
        return detections, {}

    def postprocess(self, detections: list[dict], image_list: ImageList, original_sizes: list[tuple[int, int]]
                    ) -> list[dict]:
        """Boxes to original image coordinates, masks pasted into (N, 1, H, W) probabilities (torchvision)."""
        return self.transform.postprocess(detections, image_list.image_sizes, original_sizes)

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        """``images``: consecutive frames of one sequence (a window in time), (3, H, W) float 0..1.

        Training: ``targets`` (per frame: ``boxes`` (N, 4), ``labels`` (N,), ``masks`` (N, H, W) uint8,
        ``track_ids`` (N,)) -> loss dict. Eval: per frame ``boxes``, ``labels``, ``scores``, ``masks``
        (N, 1, H, W) probabilities, ``embeddings`` (N, assoc_dim). The temporal block sees the frames with the
        sequence ends replicated (:meth:`temporal_features`).
        """
        if self.training:
            if targets is None or any("track_ids" not in t for t in targets):
                raise ValueError("training needs targets with boxes, labels, masks and track_ids for every image")
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, feats, targets = self.features(images, targets)
        detections, losses = self.heads(image_list, self.temporal_features(feats), targets)
        if self.training:
            return losses
        return self.postprocess(detections, image_list, original_sizes)
