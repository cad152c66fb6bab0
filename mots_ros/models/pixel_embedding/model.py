"""The pixel-embedding network of thesis 6.2.1 / 6.2.4: DeepLabV3+ with temporal 3D convolutions, a class branch
and an embedding branch.

* Backbone from torchvision (``resnet50`` / ``resnet101`` with the last stage dilated, or ``mobilenet_v3_large``
  dilated: encoder output stride 16; the thesis's Xception-65 is not in torchvision), ImageNet weights read from
  local files only (:func:`~mots_ros.models.weights.load_pretrained`).
* Encoder: the backbone, then ASPP (torchvision's, atrous rates 6/12/18, 256 maps). Decoder (DeepLabV3+): the
  low-level features of stride ``output_stride`` (4: "16 times smaller", the thesis's; or 8) reduced to 48 maps,
  concatenated with the upsampled ASPP output, two 3x3 convolutions of 256 maps. ``separable``: ASPP, decoder
  and branches with DeepLabV3+'s atrous separable convolutions (depthwise 3x3, then pointwise).
* :class:`~mots_ros.models.temporal.TemporalBlock` (0, 1 or 2 identity-initialised separable 3D convolutions, Fig.
  6.12) after the encoder (default) or after the decoder.
* ASPP's image-pooling branch normalises with its running statistics in training too (:meth:`train`): a batch
  is one window, whose T frames pool to nearly the same vector, so that branch's batch statistics are degenerate
  (its training output is its bias plus noise) and training and inference would disagree.
* Two branches, each a 3x3 convolution (256 maps, ReLU) and a linear 1x1 convolution: class logits (background,
  car, pedestrian) and ``embedding_dim`` (16) embeddings per output pixel; optionally a third (``centre_votes``,
  thesis 6.3.1): each pixel's offset (rows, columns, in output pixels) to its instance's centre; optionally a
  fourth (``past_votes`` P, thesis 6.3.2): for each of the P previous frames, the offset to the centre the pixel's
  object had then and the logit of its existence then.

Streaming (:class:`~mots_ros.models.base.StreamableNet`): with the block after the encoder, :meth:`encode` runs the
encoder (the ASPP output goes through the ring buffer, the reduced low-level features wait with the frame) and
:meth:`decode` the decoder and branches; with the block after the decoder, :meth:`encode` runs encoder and decoder.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import ASPP

from mots_ros import MotsError
from mots_ros.tracking.cluster import ClusterConfig
from mots_ros.tracking.types import FrameDetections

from ..temporal import INITS, TemporalBlock, pad_time
from ..trackrcnn import FrozenBatchNorm2d
from ..weights import load_pretrained
from .losses import PixelLoss
from .outputs import FrameOutputs

BACKBONES = ("resnet50", "resnet101", "mobilenet_v3_large")
OUTPUT_STRIDES = (4, 8)
PLACEMENTS = ("encoder", "decoder")
ENCODER_STRIDE = 16
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def input_size(height: int, width: int, min_size: int, max_size: int) -> tuple[int, int]:
    """The network's input size for a (height, width) image: shorter side ``min_size``, longer side at most
    ``max_size`` (0: no such bound)."""
    scale = 1.0
    if min_size:
        scale = min_size / min(height, width)
    if max_size and max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


class Backbone(nn.Module):
    """A torchvision classification body returning ``low`` (stride ``output_stride``) and ``out`` (stride 16)
    feature maps; ``low_channels`` / ``out_channels`` give their widths."""

    def __init__(self, name: str, output_stride: int, norm_layer):
        super().__init__()
        if name.startswith("resnet"):
            net = getattr(torchvision.models, name)(weights=None, norm_layer=norm_layer,
                                                    replace_stride_with_dilation=[False, False, True])
            low = "layer1" if output_stride == 4 else "layer2"
            self.body = IntermediateLayerGetter(net, {low: "low", "layer4": "out"})
            self.low_channels = 256 if output_stride == 4 else 512
            self.out_channels = 2048
        else:
            features = torchvision.models.mobilenet_v3_large(weights=None, norm_layer=norm_layer, dilated=True).features
            downs = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]  # stride-2 blocks
            low = downs[1 if output_stride == 4 else 2] - 1  # the last block before the next stride-2 one
            self.body = IntermediateLayerGetter(features, {str(low): "low", str(len(features) - 1): "out"})
            self.low_channels = features[low].out_channels
            self.out_channels = features[-1].out_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(x)
        return out["low"], out["out"]


def conv3x3(in_channels: int, out_channels: int, separable: bool = False, dilation: int = 1,
            bias: bool = False) -> nn.Module:
    """A 3x3 convolution, or with ``separable`` DeepLabV3+'s atrous separable one (Chen et al. 2018, the thesis's
    Xception-65 encoder-decoder): depthwise 3x3 (BN, ReLU), then pointwise 1x1 (about 9 / (1 + 9 / out) times
    fewer multiply-adds)."""
    if not separable:
        return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=bias)
    return nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=dilation, dilation=dilation,
                                   groups=in_channels, bias=False), nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 1, bias=bias))


def aspp(in_channels: int, rates: list[int], out_channels: int, separable: bool = False) -> ASPP:
    """torchvision's ASPP; with ``separable`` its atrous 3x3 convolutions are atrous separable ones (DeepLabV3+)."""
    module = ASPP(in_channels, rates, out_channels)
    if separable:
        for i, rate in enumerate(rates, 1):
            module.convs[i] = nn.Sequential(conv3x3(in_channels, out_channels, True, rate),
                                            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
    return module


class Decoder(nn.Module):
    """DeepLabV3+ decoder: low-level features -> 1x1 conv to ``low_maps``; the encoder output upsampled
    (bilinear) to their size, concatenated, two 3x3 convolutions of ``out_channels`` maps (BN, ReLU; separable
    ones with ``separable``)."""

    def __init__(self, low_channels: int, in_channels: int = 256, low_maps: int = 48, out_channels: int = 256,
                 separable: bool = False):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(low_channels, low_maps, 1, bias=False), nn.BatchNorm2d(low_maps),
                                    nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(
            conv3x3(in_channels + low_maps, out_channels, separable), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels, separable), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))

    def combine(self, high: torch.Tensor, reduced: torch.Tensor) -> torch.Tensor:
        """The decoder output from the encoder output and already reduced low-level features."""
        up = F.interpolate(high, size=reduced.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, reduced], dim=1))

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.combine(high, self.reduce(low))


class Predictions(NamedTuple):
    """The network's per-pixel outputs: class logits (T, C, h, w), embeddings (T, D, h, w), centre offsets
    (T, 2, h, w; None without centre votes) and votes for previous frames (T, 3P, h, w: per past frame p the row and
    column offsets in output pixels, then the existence logit; None without them)."""

    logits: torch.Tensor
    embeddings: torch.Tensor
    offsets: torch.Tensor | None
    past: torch.Tensor | None


def branch(in_channels: int, out_channels: int, hidden: int = 256, separable: bool = False) -> nn.Sequential:
    """A prediction branch (thesis 6.2.4): 3x3 convolution (``hidden`` maps, ReLU; a separable one with
    ``separable``), then a linear 1x1 one."""
    return nn.Sequential(conv3x3(in_channels, hidden, separable, bias=True), nn.ReLU(inplace=True),
                         nn.Conv2d(hidden, out_channels, 1))


class PixelEmbeddingNet(nn.Module):
    """DeepLabV3+ with temporal convolutions and class / embedding branches (thesis 6.2.1), composed of its parts.

    Args:
        backbone, aspp, decoder: encoder body, ASPP and decoder (:class:`Backbone`, torchvision's ``ASPP``,
            :class:`Decoder`).
        class_head, embedding_head: the two branches (:func:`branch`).
        offset_head: the centre-vote branch (thesis 6.3.1; None: without one); its outputs times ``offset_unit``
            are offsets in output pixels.
        past_head: the branch of votes for previous frames (thesis 6.3.2; None: without one): 3 maps per past
            frame (row and column offsets, times ``offset_unit``; existence logit).
        temporal: the block (None: no temporal context) and ``temporal_position`` ``'encoder'`` / ``'decoder'``.
        lookahead: future frames in a window (None: the centred window).
        output_stride: stride of the outputs (that of the decoder's low-level features).
        loss: the training loss (:class:`~mots_ros.models.pixel_embedding.losses.PixelLoss`).
        clustering: HDBSCAN parameters turning one frame's outputs into detections (None: the thesis's;
            :mod:`mots_ros.tracking.cluster`).
        min_size, max_size: input resize (0: none; :meth:`set_input_size`).
        config: the arguments of :func:`build_pixel_embedding` (stored in checkpoints).
    """

    arch = "pixel_embedding"

    def __init__(self, backbone: Backbone, aspp: nn.Module, decoder: Decoder, class_head: nn.Module,
                 embedding_head: nn.Module, temporal: TemporalBlock | None, temporal_position: str = "encoder",
                 lookahead: int | None = None, output_stride: int = 4, loss: PixelLoss | None = None,
                 clustering: ClusterConfig | None = None, min_size: int = 0, max_size: int = 0,
                 config: dict | None = None, offset_head: nn.Module | None = None, offset_unit: float = 16.0,
                 past_head: nn.Module | None = None):
        super().__init__()
        if temporal_position not in PLACEMENTS:
            raise ValueError(f"temporal_position must be one of {PLACEMENTS}, got {temporal_position!r}")
        self.backbone, self.aspp, self.decoder = backbone, aspp, decoder
        self.class_head, self.embedding_head = class_head, embedding_head
        self.offset_head, self.offset_unit = offset_head, offset_unit
        self.past_head = past_head
        self.temporal, self.temporal_position = temporal, temporal_position
        field = temporal.receptive_field if temporal is not None else 1
        self.lookahead = (field - 1) // 2 if lookahead is None else lookahead
        if not 0 <= self.lookahead < field:
            raise ValueError(f"temporal_lookahead must be in 0..{field - 1}, got {self.lookahead}")
        self.output_stride = output_stride
        self.loss = loss or PixelLoss()
        self.clustering = clustering or ClusterConfig()
        self.recorder = None  # called with each decoded frame's FrameOutputs (mots run --save-outputs)
        self.min_size, self.max_size = min_size, max_size
        self.config = dict(config or {})
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PixelEmbeddingNet":
        """``nn.Module.train``, except that the batch norm of ASPP's image-pooling branch stays in eval mode (see
        the module doc)."""
        super().train(mode)
        for m in self.aspp.convs[-1].modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    @property
    def clustering(self) -> ClusterConfig:
        """The clustering of :meth:`decode`; centre features need the centre-vote branch (MotsError otherwise)."""
        return self._clustering

    @clustering.setter
    def clustering(self, config: ClusterConfig) -> None:
        if config.features != "embedding" and self.offset_head is None:
            raise MotsError(f"clustering.features {config.features!r} needs a model with centre votes "
                            f"(centre_votes: true); this one predicts no offsets")
        self._clustering = config

    @property
    def receptive_field(self) -> int:
        """Frames seen by the temporal block (1 without it)."""
        return self.temporal.receptive_field if self.temporal is not None else 1

    def set_input_size(self, min_size: int, max_size: int) -> None:
        """Net interface: resize inputs to shorter side ``min_size``, longer side at most ``max_size`` (0 keeps a
        value; both 0 in the config: the full input resolution, as the thesis at test time)."""
        if min_size > 0:
            self.min_size = int(min_size)
        if max_size > 0:
            self.max_size = int(max_size)

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """The network's input size for a (height, width) image."""
        return input_size(height, width, self.min_size, self.max_size)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the outputs for a (height, width) image: the resized size divided by the stride, rounded up."""
        h, w = self.resized_size(height, width)
        return -(-h // self.output_stride), -(-w // self.output_stride)

    def prepare(self, images: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """(T, 3, H, W) float 0..1 -> resized (unless not ``resize``), normalised and zero-padded to a multiple of
        the encoder stride."""
        size = self.resized_size(*images.shape[-2:]) if resize else tuple(images.shape[-2:])
        if size != tuple(images.shape[-2:]):
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        x = (images - self.mean) / self.std
        pad_h, pad_w = (-size[0]) % ENCODER_STRIDE, (-size[1]) % ENCODER_STRIDE
        return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x

    def encoder(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ASPP output at stride 16, reduced low-level features at the output stride)."""
        low, out = self.backbone(x)
        return self.aspp(out), self.decoder.reduce(low)

    @property
    def past_frames(self) -> int:
        """P: the previous frames the model votes for (0 without that branch)."""
        return 0 if self.past_head is None else self.past_head[-1].out_channels // 3

    def heads(self, decoded: torch.Tensor, out_size: tuple[int, int]) -> Predictions:
        """The :class:`Predictions` of decoder output, cropped to ``out_size`` (the unpadded part)."""
        decoded = decoded[..., :out_size[0], :out_size[1]]
        offsets = self.offset_head(decoded) * self.offset_unit if self.offset_head is not None else None
        past = None
        if self.past_head is not None:
            unit = decoded.new_tensor([self.offset_unit, self.offset_unit, 1.0]).repeat(self.past_frames)
            past = self.past_head(decoded) * unit.view(1, -1, 1, 1)
        return Predictions(self.class_head(decoded), self.embedding_head(decoded), offsets, past)

    def _temporal(self, x: torch.Tensor) -> torch.Tensor:
        """The block over (T, C, h, w) consecutive frames, sequence ends replicated (T outputs)."""
        if self.temporal is None:
            return x
        x = pad_time(x.permute(1, 0, 2, 3).unsqueeze(0), self.receptive_field - 1 - self.lookahead, self.lookahead)
        return self.temporal(x).squeeze(0).permute(1, 0, 2, 3)

    def forward(self, images: torch.Tensor, resize: bool = True) -> Predictions:
        """(T, 3, H, W) consecutive frames, float 0..1 -> their :class:`Predictions`.
        ``resize`` False: the frames are already at the network's input size (training crops, thesis 6.2.4)."""
        size = tuple(images.shape[-2:])
        out_size = self.output_size(*size) if resize else (-(-size[0] // self.output_stride),
                                                           -(-size[1] // self.output_stride))
        high, reduced = self.encoder(self.prepare(images, resize))
        if self.temporal_position == "encoder":
            return self.heads(self.decoder.combine(self._temporal(high), reduced), out_size)
        return self.heads(self._temporal(self.decoder.combine(high, reduced)), out_size)

    def encode(self, image: torch.Tensor) -> tuple[tuple, dict[str, torch.Tensor]]:
        """Net interface: ((reduced low-level features or None, the image as (H, W, 3) uint8 when the clustering's
        upsampling is guided by it, else None), {'x': temporal block input}) of one (3, H, W) image."""
        high, reduced = self.encoder(self.prepare(image[None]))
        guide = None
        if self.clustering.upsampling == "guided":
            guide = image.detach().float().mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)
            guide = guide.cpu().numpy()  # a copy: the stream reuses its input buffer for the next frame
        if self.temporal_position == "encoder":
            return (reduced, guide), {"x": high}
        return (None, guide), {"x": self.decoder.combine(high, reduced)}

    def predict(self, context: torch.Tensor | None, features: dict[str, torch.Tensor], height: int, width: int
                ) -> Predictions:
        """The :class:`Predictions` (T = 1) of one frame from the low-level features of :meth:`encode`'s context and
        the temporal output of its window."""
        x = features["x"]
        decoded = self.decoder.combine(x, context) if self.temporal_position == "encoder" else x
        return self.heads(decoded, self.output_size(height, width))

    def decode(self, context, features: dict[str, torch.Tensor], frame: int, stamp: int, height: int, width: int,
               score_threshold: float | None = None) -> FrameDetections:
        """Net interface: class probabilities and embeddings of one frame (passed to ``self.recorder`` when set,
        :class:`~mots_ros.models.pixel_embedding.outputs.OutputRecorder`), clustered per class into detections
        (:func:`~mots_ros.tracking.cluster.cluster_frame` with ``self.clustering``)."""
        reduced, image = context
        logits, embeddings, offsets, past = self.predict(reduced, features, height, width)
        outputs = FrameOutputs(frame, stamp, height, width, self.resized_size(height, width), self.output_stride,
                               logits.float().softmax(1)[0].cpu().numpy(), embeddings[0].float().cpu().numpy(),
                               None if offsets is None else offsets[0].float().cpu().numpy(),
                               None if past is None else past_probabilities(past[0]), self.loss.centre, image)
        if self.recorder is not None:
            self.recorder(outputs)
        clustering = self.clustering
        if clustering.upsampling == "guided" and image is None:  # switched to guided after this frame's encode
            clustering = replace(clustering, upsampling="nearest")
        return outputs.cluster(clustering, score_threshold)

    def losses(self, images: torch.Tensor, classes: torch.Tensor, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training losses of a window: ``classes`` / ``instances`` (T, h, w) targets at the output resolution
        (:func:`~mots_ros.models.pixel_embedding.losses.pixel_targets`)."""
        logits, embeddings, offsets, past = self(images)
        return self.loss(logits, embeddings, classes, instances, offsets, past=past)


def past_probabilities(past: torch.Tensor) -> np.ndarray:
    """(3P, h, w) float32 votes for previous frames with each existence logit turned into a probability."""
    votes = past.detach().float().cpu().numpy().reshape(-1, 3, *past.shape[-2:]).copy()
    votes[:, 2] = 1.0 / (1.0 + np.exp(-votes[:, 2]))
    return votes.reshape(past.shape).astype(np.float32)


def build_pixel_embedding(backbone: str = "mobilenet_v3_large", num_classes: int = 3, embedding_dim: int = 16,
                          output_stride: int = 4, temporal_layers: int = 1, temporal_position: str = "encoder",
                          temporal_init: str = "identity", temporal_lookahead: int | None = None,
                          aspp_maps: int = 256, decoder_maps: int = 256, branch_maps: int = 256,
                          embedding_loss: str = "contrastive", margin: float = 8.0, embedding_weight: float = 0.1,
                          quantile: float = 0.5, samples: int = 5000, sampling: str = "instance",
                          min_size: int = 0, max_size: int = 0, centre_votes: bool = False, centre: str = "mass",
                          offset_loss: str = "l1", offset_weight: float = 0.001, offset_unit: float = 16.0,
                          past_votes: int = 0, existence_weight: float = 0.1, separable: bool = False,
                          pretrained: str | None = None, weights_path: str | None = None,
                          frozen_bn: bool | None = None) -> PixelEmbeddingNet:
    """A :class:`PixelEmbeddingNet` from plain arguments (the checkpoint config; thesis defaults for the loss:
    contrastive, margin 8, weight 0.1, 5000 pixels sampled equally per instance).

    ``aspp_maps``, ``decoder_maps``, ``branch_maps``: widths of ASPP, decoder and branch convolutions (256 in the
    thesis; smaller for the CPU model). ``pretrained``: None or ``'imagenet'`` (backbone, from ``weights_path`` or
    the torch hub checkpoint dir, never downloaded); ``frozen_bn`` None: frozen backbone batch norm with pretrained
    weights (thesis 6.2.4). ``centre_votes``: the centre-offset branch (thesis 6.3.1) trained towards the mask's
    centre of mass (``centre`` ``'mass'``) or its box centre (``'box'``) with ``offset_weight`` x the
    ``offset_loss`` (l1, l2, huber) in output pixels; the branch's outputs are scaled by ``offset_unit``.
    ``past_votes`` P (0: none; thesis 6.3.2): the branch of votes for the P previous frames (offsets to the
    object's centre then, with the same centre, loss and weight; existence by cross-entropy x ``existence_weight``).
    ``separable``: atrous separable 3x3 convolutions in ASPP, decoder and branches, as DeepLabV3+ has them (the
    plain ones dominate the CPU model's time: ~6 of its ~10 GMACs at 376x1240 are ASPP and decoder).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
    if temporal_init not in INITS:
        raise ValueError(f"temporal_init must be one of {INITS}, got {temporal_init!r}")
    if not 0 <= temporal_layers <= 2:
        raise ValueError(f"temporal_layers must be 0, 1 or 2, got {temporal_layers}")
    if isinstance(past_votes, bool) or not isinstance(past_votes, int) or not 0 <= past_votes <= 3:
        raise ValueError(f"past_votes must be 0, 1, 2 or 3, got {past_votes!r}")
    if pretrained not in (None, "imagenet"):
        raise ValueError(f"pretrained must be None or 'imagenet', got {pretrained!r}")
    frozen_bn = bool(pretrained) if frozen_bn is None else frozen_bn
    config = dict(backbone=backbone, num_classes=num_classes, embedding_dim=embedding_dim,
                  output_stride=output_stride, temporal_layers=temporal_layers, temporal_position=temporal_position,
                  temporal_init=temporal_init, temporal_lookahead=temporal_lookahead, aspp_maps=aspp_maps,
                  decoder_maps=decoder_maps, branch_maps=branch_maps,
                  embedding_loss=embedding_loss, margin=margin, embedding_weight=embedding_weight, quantile=quantile,
                  samples=samples, sampling=sampling, min_size=min_size, max_size=max_size,
                  centre_votes=centre_votes, centre=centre, offset_loss=offset_loss, offset_weight=offset_weight,
                  offset_unit=offset_unit, past_votes=past_votes, existence_weight=existence_weight,
                  separable=separable, pretrained=pretrained,
                  weights_path=weights_path, frozen_bn=frozen_bn)
    body = Backbone(backbone, output_stride, partial(FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d))
    decoder = Decoder(body.low_channels, aspp_maps, out_channels=decoder_maps, separable=separable)
    temporal_maps = aspp_maps if temporal_position == "encoder" else decoder_maps
    temporal = TemporalBlock(temporal_maps, temporal_layers, temporal_init) if temporal_layers else None
    head = partial(branch, decoder_maps, hidden=branch_maps, separable=separable)
    net = PixelEmbeddingNet(body, aspp(body.out_channels, [6, 12, 18], aspp_maps, separable), decoder,
                            head(num_classes), head(embedding_dim), temporal,
                            temporal_position, temporal_lookahead, output_stride,
                            PixelLoss(embedding_loss, margin, embedding_weight, quantile, samples, sampling,
                                      centre, offset_loss, offset_weight, existence_weight),
                            min_size=min_size, max_size=max_size, config=config,
                            offset_head=head(2) if centre_votes else None, offset_unit=offset_unit,
                            past_head=head(3 * past_votes) if past_votes else None)
    load_pretrained(net, pretrained, weights_path)
    return net
