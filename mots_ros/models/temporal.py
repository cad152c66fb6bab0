"""Depthwise separable 3D convolutions over time (thesis ch. 3, §4.5, §4.6).

TrackR-CNN puts two depthwise separable 3D convolutions (3x3x3 depthwise, then 1x1x1 pointwise, no
nonlinearity) in front of the region proposal network, initialised to the identity so that pretrained Mask R-CNN
weights keep their meaning (§4.5). Each layer consumes 3 time steps without temporal padding, so the block sees
``2 * num_layers + 1`` frames (5 by default, §4.6). Sequence ends are handled by replicating the first / last
frame (:func:`temporal_window`, :func:`pad_time`).

On CPU the convolutions run in ``channels_last_3d`` (measured on this 2-core machine: 97 ms instead of 276 ms for
one layer on (1, 256, 8, 48, 156)); FPN maps arrive as NHWC from the backbone, so the (1, C, T, H, W) view of T
frames is already in that layout without a copy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INITS = ("identity", "average", "random")


class SeparableConv3d(nn.Module):
    """Depthwise 3x3x3 convolution (groups = channels; spatial padding 1, none in time), then pointwise 1x1x1.

    ``init``: ``'identity'`` (depthwise kernels 0 with a 1 at the centre, pointwise identity, bias 0: returns the
    middle time step exactly), ``'average'`` (1/3 at the three temporal taps of the spatial centre, pointwise
    identity; [CZ17] via thesis §4.5) or ``'random'`` (PyTorch's default Kaiming-uniform).
    """

    def __init__(self, channels: int, init: str = "identity"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.depthwise = nn.Conv3d(channels, channels, 3, padding=(0, 1, 1), groups=channels, bias=False)
        self.pointwise = nn.Conv3d(channels, channels, 1)
        if init != "random":
            with torch.no_grad():
                self.depthwise.weight.zero_()
                if init == "identity":
                    self.depthwise.weight[:, 0, 1, 1, 1] = 1.0
                else:
                    self.depthwise.weight[:, 0, :, 1, 1] = 1.0 / 3.0
                self.pointwise.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1, 1))
                self.pointwise.bias.zero_()
        # the layout its gradient comes in (else DDP warns that grad strides do not match its bucket view)
        self.depthwise.to(memory_format=torch.channels_last_3d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, T - 2, H, W)."""
        x = self.depthwise(x.contiguous(memory_format=torch.channels_last_3d)).permute(0, 2, 3, 4, 1)
        # the 1x1x1 convolution as one matrix product over the channels-last view (no copy either way; PyTorch's
        # conv3d picks a slow kernel for T = 1 on small maps)
        w = self.pointwise.weight
        return F.linear(x, w.view(w.shape[0], w.shape[1]), self.pointwise.bias).permute(0, 4, 1, 2, 3)

    def step(self, ring: torch.Tensor, newest: int) -> torch.Tensor:
        """One output time step from a (B, C, 3, H, W) ring buffer whose slot ``newest`` holds the latest input
        (slots ``newest+1, newest+2, newest`` mod 3 in time order) -> (B, C, H, W)."""
        order = [(s - newest - 1) % 3 for s in range(3)]  # time tap of each slot
        w = self.depthwise.weight[:, :, order]
        x = F.conv3d(ring, w, padding=(0, 1, 1), groups=w.shape[0]).squeeze(2).permute(0, 2, 3, 1)
        w = self.pointwise.weight
        return F.linear(x, w.view(w.shape[0], w.shape[1]), self.pointwise.bias).permute(0, 3, 1, 2)


class TemporalBlock(nn.Module):
    """``num_layers`` stacked :class:`SeparableConv3d` without nonlinearity in between (thesis §4.5-4.6)."""

    def __init__(self, channels: int, num_layers: int = 2, init: str = "identity"):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.layers = nn.ModuleList(SeparableConv3d(channels, init) for _ in range(num_layers))

    @property
    def receptive_field(self) -> int:
        """Frames seen by one output time step: ``2 * num_layers + 1``."""
        return 2 * len(self.layers) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, T - 2 * num_layers, H, W)."""
        for layer in self.layers:
            x = layer(x)
        return x


def temporal_window(num_frames: int, t: int, lookahead: int, receptive_field: int) -> list[int]:
    """Frame indices forming the window of output frame ``t``: ``t - (R-1-k) .. t + k`` with ``k = lookahead``,
    clamped to ``0 .. num_frames - 1`` (the first / last frame replicated). ``k = (R-1)//2`` is the thesis's
    centred setting, ``k = 0`` is causal."""
    if not 0 <= lookahead < receptive_field:
        raise ValueError(f"lookahead must be in 0..{receptive_field - 1}, got {lookahead}")
    first = t - (receptive_field - 1 - lookahead)
    return [min(max(i, 0), num_frames - 1) for i in range(first, t + lookahead + 1)]


def pad_time(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Replicate the first / last time step of (B, C, T, H, W) ``before`` / ``after`` times (edge padding)."""
    parts = [x[:, :, :1].expand(-1, -1, before, -1, -1)] if before else []
    parts.append(x)
    if after:
        parts.append(x[:, :, -1:].expand(-1, -1, after, -1, -1))
    return torch.cat(parts, dim=2) if len(parts) > 1 else x


class TemporalStream:
    """A :class:`TemporalBlock` evaluated one time step at a time over per-level feature maps.

    Every layer keeps its last 3 inputs per level in a ring buffer, a preallocated (1, C, 3, H, W)
    ``channels_last_3d`` tensor whose slot ``n % 3`` the n-th step overwrites; the depthwise kernel is rotated in
    time to match the slot order instead of moving data. So each frame's features and each layer's output for each
    time step are computed once, never again for overlapping windows, and nothing is concatenated. After the n-th
    push (0-based) the block output of the window of frames ``n - 2L .. n`` (``L`` layers, first frame replicated
    at the start) is available; pushing the last frame again replicates it at the end. This equals running the
    block on the edge-padded sequence.
    """

    def __init__(self, block: TemporalBlock):
        self.block = block
        self.buffers: list[dict[str, torch.Tensor]] = [{} for _ in block.layers]
        self.steps = 0

    def reset(self) -> None:
        """Start a new sequence (the buffers are kept for reuse)."""
        self.steps = 0

    def push(self, features: dict[str, torch.Tensor], output: bool = True) -> dict[str, torch.Tensor] | None:
        """Add one time step (level -> (1, C, H, W)); return the block output (level -> (1, C, H, W)), or None
        when ``output`` is False (the last layer is then skipped; earlier layers still advance)."""
        slot = self.steps % 3
        first = self.steps == 0
        self.steps += 1
        layers = self.block.layers
        out = {}
        for name, x in features.items():
            for i, (layer, buffers) in enumerate(zip(layers, self.buffers)):
                buf = buffers.get(name)
                if buf is None or buf.shape[-2:] != x.shape[-2:] or buf.dtype != x.dtype or buf.device != x.device:
                    buf = buffers[name] = torch.empty((1, x.shape[1], 3, *x.shape[-2:]), dtype=x.dtype,
                                                      device=x.device, memory_format=torch.channels_last_3d)
                if first:
                    buf.copy_(x.unsqueeze(2).expand(-1, -1, 3, -1, -1))
                else:
                    buf[:, :, slot].copy_(x)
                if i == len(layers) - 1 and not output:
                    break
                x = layer.step(buf, slot)
            out[name] = x
        return out if output else None
