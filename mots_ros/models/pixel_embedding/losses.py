"""Training targets and losses of the pixel-embedding network (thesis 6.2.4, 6.2.8).

The class branch is trained with cross-entropy, the embedding branch with an embedding loss on sampled pixels:
the contrastive loss (Euclidean, margin 8, weight 0.1; eq. 2.5) by default, or batch-all / p-quantile triplet
losses (:mod:`mots_ros.models.losses`, here over all pairs: every instance, and the background as one instance,
against every other). 5000 pixels are sampled per batch, the same number for each instance (the background counts
as one), or the same number per class and within it per instance (``'balanced'``), or uniformly (``'random'``).
Ignore regions take part in neither loss. Targets live at the output resolution (nearest-neighbour samples of the
annotation at the output pixels' centres, as Fig. 6.2 downsamples).

Centre votes (thesis 6.3.1, with the model's ``centre_votes`` branch): every instance pixel's offset (rows,
columns, in output pixels) to its instance's centre in that frame: the centre of mass of the instance's output
pixels (``'mass'``) or the centre of their box (``'box'``, Fig. 6.31); l1 (default), l2 or Huber (Fig. 6.30),
weighted by ``offset_weight`` (Fig. 6.29), on instance pixels only (background and ignore excluded).

Votes for previous frames (thesis 6.3.2, the model's ``past_votes`` P): for each p in 1..P, every instance pixel's
offset to the centre its object had in frame t - p (regressed as above where the object existed then) and the
logit of "was this object in frame t - p" (binary cross-entropy, weighted by ``existence_weight``, 0.1 as Fig.
6.34). The training window holds the previous frames; frames whose frame t - p lies before the window get no
target.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import association_loss

EMBEDDING_LOSSES = ("contrastive", "batch_all", "p_quantile")
SAMPLING = ("instance", "balanced", "random")
IGNORE = -1  # target value of ignore pixels (class and instance)
CENTRES = ("mass", "box")
OFFSET_LOSSES = ("l1", "l2", "huber")
TRIPLET_MAX_SAMPLES = 300  # the triplet losses form N^3 triplets: 300 pixels are 27 M, 5000 would be 1.25e11


def centre_pixels(out: int, stride: int, resized: int, original: int) -> torch.Tensor:
    """For each of ``out`` output pixels, the original-image pixel under its centre: output pixel i covers resized
    pixels ``i*stride .. (i+1)*stride - 1``; resized pixel r lies over original pixel ``floor((r + 0.5) * original
    / resized)``."""
    r = (torch.arange(out) * stride + stride // 2).clamp_(max=resized - 1)
    return ((r + 0.5) * original / resized).long().clamp_(max=original - 1)


def pixel_targets(masks: torch.Tensor, track_ids: torch.Tensor, ignore: torch.Tensor | None,
                  out_size: tuple[int, int], resized_size: tuple[int, int], stride: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, instances) (h, w) int64 targets of one frame at the output resolution ``out_size``.

    ``masks`` (N, H, W) disjoint instance masks with ``track_ids`` (N,) (KITTI ids ``class * 1000 + n``), ``ignore``
    (H, W) bool or None; the network sees the image at ``resized_size`` and predicts at ``stride``. An output pixel
    takes the annotation under its centre: background 0 / class and id, or :data:`IGNORE`.
    """
    height, width = masks.shape[-2:]
    rows = centre_pixels(out_size[0], stride, resized_size[0], height)
    cols = centre_pixels(out_size[1], stride, resized_size[1], width)
    picked = masks[:, rows[:, None], cols[None, :]].bool()
    ids = (picked * track_ids.view(-1, 1, 1)).amax(0) if len(masks) else torch.zeros(out_size, dtype=torch.int64)
    classes = ids // 1000
    if ignore is not None:
        skip = ignore[rows[:, None], cols[None, :]].bool()
        ids, classes = ids.masked_fill(skip, IGNORE), classes.masked_fill(skip, IGNORE)
    return classes.long(), ids.long()


def sample_pixels(instances: torch.Tensor, count: int, strategy: str = "instance",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of about ``count`` pixels of the flat ``instances`` ids (0 background, :data:`IGNORE` never taken).

    ``'instance'``: ``count // m`` pixels from each of the m instances present (the background is one);
    ``'balanced'``: ``count // c`` per class present (background, car, pedestrian; class = id // 1000), split
    equally among that class's instances; ``'random'``: ``count`` pixels uniformly. An instance smaller than its
    share gives each of its pixels about equally often (a random order repeated); otherwise no pixel twice.
    """
    if strategy not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {strategy!r}")
    valid = (instances != IGNORE).nonzero().squeeze(1)
    if strategy == "random" or not len(valid):
        return valid[torch.randperm(len(valid), generator=generator, device=valid.device)[:count]]
    ids, inverse, sizes = torch.unique(instances[valid], return_inverse=True, return_counts=True)
    if strategy == "instance":
        quota = torch.full_like(sizes, count // len(ids))
    else:
        _, class_of, per_class = torch.unique(ids // 1000, return_inverse=True, return_counts=True)
        quota = (count // len(per_class)) // per_class[class_of]
    # the pixels of each instance together, in random order within it: sort on instance index + a [0, 1) key
    key = inverse.double() + torch.rand(len(inverse), generator=generator, dtype=torch.float64, device=valid.device)
    order = key.argsort()
    starts = sizes.cumsum(0) - sizes
    owner = torch.repeat_interleave(torch.arange(len(ids), device=valid.device), quota)
    rank = torch.arange(len(owner), device=valid.device) - torch.repeat_interleave(quota.cumsum(0) - quota, quota)
    return valid[order[starts[owner] + rank % sizes[owner]]]


def frame_centres(instances: torch.Tensor, centre: str = "mass") -> tuple[torch.Tensor, torch.Tensor]:
    """(keys (n,), centres (n, 2)) of the instances (id > 0) of every frame of ``instances`` (T, h, w): key = frame
    * (max id + 1) + id, ascending; centre = (row, column) in output pixels, of mass (``'mass'``: the mean of the
    instance's pixel positions) or of the box (``'box'``: the middle of their extent)."""
    if centre not in CENTRES:
        raise ValueError(f"centre must be one of {CENTRES}, got {centre!r}")
    t, h, w = instances.shape
    device = instances.device
    where = instances > 0
    if not where.any():
        return torch.zeros(0, dtype=torch.int64, device=device), torch.zeros(0, 2, device=device)
    rows, cols = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    frame = torch.arange(t, device=device).view(t, 1, 1).expand(t, h, w)[where]
    keys, owner = torch.unique(frame * (instances.max() + 1) + instances[where], return_inverse=True)
    pos = torch.stack([rows.expand(t, h, w)[where], cols.expand(t, h, w)[where]], 1).float()  # (P, 2)
    n = len(keys)
    if centre == "mass":
        total = torch.zeros(n, 2, device=device).index_add_(0, owner, pos)
        return keys, total / torch.bincount(owner, minlength=n).unsqueeze(1)
    index = owner.unsqueeze(1).expand(-1, 2)
    low = torch.full((n, 2), float("inf"), device=device).scatter_reduce(0, index, pos, "amin")
    high = torch.full((n, 2), float("-inf"), device=device).scatter_reduce(0, index, pos, "amax")
    return keys, (low + high) / 2


def _positions(where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(frame (P,), (row, column) (P, 2) float) of the pixels ``where`` of (T, h, w) maps."""
    idx = where.nonzero()
    return idx[:, 0], idx[:, 1:].float()


def centre_offsets(instances: torch.Tensor, centre: str = "mass") -> tuple[torch.Tensor, torch.Tensor]:
    """(offsets (T, 2, h, w) float, where (T, h, w) bool) of ``instances`` (T, h, w) ids: at each instance pixel
    (id > 0) the (row, column) of its instance's centre in its frame (:func:`frame_centres`) minus its own, in
    output pixels; 0 elsewhere."""
    keys, centres = frame_centres(instances, centre)
    t, h, w = instances.shape
    where = instances > 0
    offsets = torch.zeros(t, 2, h, w, device=instances.device)
    if len(keys):
        frame, pos = _positions(where)
        owner = torch.searchsorted(keys, frame * (instances.max() + 1) + instances[where])
        offsets.permute(0, 2, 3, 1)[where] = centres[owner] - pos
    return offsets, where


def past_targets(instances: torch.Tensor, past: int, centre: str = "mass"
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of the votes for previous frames (thesis 6.3.2) of a window's ``instances`` (T, h, w):
    (offsets (T, past, 2, h, w), exists (T, past, h, w) float, known (T, past, h, w) bool). For frame i and p in
    1..``past``, at each instance pixel (id > 0) of frame i whose frame i - p is in the window (``known``):
    ``exists`` 1 where the same id is in frame i - p, and there the offset from the pixel to that instance's centre
    in frame i - p (:func:`frame_centres`); 0 elsewhere."""
    keys, centres = frame_centres(instances, centre)
    t, h, w = instances.shape
    device = instances.device
    offsets = torch.zeros(t, past, 2, h, w, device=device)
    exists = torch.zeros(t, past, h, w, device=device)
    known = torch.zeros(t, past, h, w, dtype=torch.bool, device=device)
    base = instances.max() + 1
    for p in range(1, past + 1):
        cur = instances > 0
        cur[:p] = False
        if not cur.any():
            continue
        frame, pos = _positions(cur)
        key = (frame - p) * base + instances[cur]
        at = torch.searchsorted(keys, key).clamp_(max=len(keys) - 1)
        found = keys[at] == key
        known[:, p - 1][cur] = True
        exists[:, p - 1][cur] = found.float()
        offsets[:, p - 1].permute(0, 2, 3, 1)[cur] = torch.where(found.unsqueeze(1), centres[at] - pos, 0.0)
    return offsets, exists, known


def offset_loss(predicted: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean over (P, 2) pixels' offset errors: l1 (|dr| + |dc|), l2 (squared distance) or Huber (smooth l1, 1
    output pixel, summed over the two components)."""
    if kind == "l1":
        return (predicted - target).abs().sum(1).mean()
    if kind == "l2":
        return ((predicted - target) ** 2).sum(1).mean()
    return F.smooth_l1_loss(predicted, target, reduction="none", beta=1.0).sum(1).mean()


class PixelLoss:
    """``loss_class`` (cross-entropy) and ``loss_embedding`` (``weight`` x the embedding loss of ``samples``
    sampled pixels) of one window (thesis 6.2.4: L = L_class + 0.1 L_embedding); with centre offsets also
    ``loss_offset`` (``offset_weight`` x :func:`offset_loss` towards :func:`centre_offsets`, thesis 6.3.1); with
    votes for previous frames (thesis 6.3.2) ``loss_past_existence`` (``existence_weight`` x binary cross-entropy
    towards :func:`past_targets`' ``exists``, where known) and ``loss_past_offset`` (``offset_weight`` x
    :func:`offset_loss` where the object existed)."""

    def __init__(self, embedding_loss: str = "contrastive", margin: float = 8.0, weight: float = 0.1,
                 quantile: float = 0.5, samples: int = 5000, sampling: str = "instance", centre: str = "mass",
                 offset_loss: str = "l1", offset_weight: float = 0.001, existence_weight: float = 0.1):
        if centre not in CENTRES:
            raise ValueError(f"centre must be one of {CENTRES}, got {centre!r}")
        if offset_loss not in OFFSET_LOSSES:
            raise ValueError(f"offset_loss must be one of {OFFSET_LOSSES}, got {offset_loss!r}")
        self.centre, self.offset_kind, self.offset_weight = centre, offset_loss, offset_weight
        self.existence_weight = existence_weight
        if embedding_loss not in EMBEDDING_LOSSES:
            raise ValueError(f"embedding_loss must be one of {EMBEDDING_LOSSES}, got {embedding_loss!r}")
        if sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
        if embedding_loss != "contrastive" and samples > TRIPLET_MAX_SAMPLES:
            raise ValueError(f"{embedding_loss} forms samples^3 triplets: samples must be at most "
                             f"{TRIPLET_MAX_SAMPLES}, got {samples}")
        self.kind, self.margin, self.weight, self.quantile = embedding_loss, margin, weight, quantile
        self.samples, self.sampling = samples, sampling

    def __call__(self, logits: torch.Tensor, embeddings: torch.Tensor, classes: torch.Tensor,
                 instances: torch.Tensor, offsets: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, past: torch.Tensor | None = None
                 ) -> dict[str, torch.Tensor]:
        """``logits`` (T, C, h, w), ``embeddings`` (T, D, h, w), targets (T, h, w) from :func:`pixel_targets`,
        ``offsets`` (T, 2, h, w) or None, ``past`` (T, 3P, h, w) (per past frame p: row and column offsets, then
        the existence logit) or None."""
        known = classes != IGNORE
        loss_class = (F.cross_entropy(logits.float(), classes, ignore_index=IGNORE) if known.any()
                      else logits.sum() * 0.0)
        flat = embeddings.permute(0, 2, 3, 1).reshape(-1, embeddings.shape[1]).float()
        ids = instances.reshape(-1)
        picked = sample_pixels(ids, self.samples, self.sampling, generator)
        y = ids[picked]
        emb = association_loss(self.kind, flat[picked], y, torch.zeros_like(y), self.margin, self.quantile)
        out = {"loss_class": loss_class, "loss_embedding": self.weight * emb}
        if offsets is not None:
            target, where = centre_offsets(instances, self.centre)
            out["loss_offset"] = self.offset_weight * self._regression(offsets.float(), target, where)
        if past is not None:
            out.update(self.past_losses(past, instances))
        return out

    def _regression(self, predicted: torch.Tensor, target: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """:func:`offset_loss` of (T, 2, h, w) offsets at the pixels ``where`` (T, h, w); 0 (with a gradient)
        where there are none."""
        if not where.any():
            return predicted.sum() * 0.0
        return offset_loss(predicted.permute(0, 2, 3, 1)[where], target.permute(0, 2, 3, 1)[where], self.offset_kind)

    def past_losses(self, past: torch.Tensor, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss_past_existence`` and ``loss_past_offset`` of the (T, 3P, h, w) votes for previous frames."""
        t, maps, h, w = past.shape
        votes = past.float().reshape(t, maps // 3, 3, h, w)
        offsets, exists, known = past_targets(instances, maps // 3, self.centre)
        logits = votes[:, :, 2]
        existence = (F.binary_cross_entropy_with_logits(logits[known], exists[known]) if known.any()
                     else logits.sum() * 0.0)
        regression = self._regression(votes[:, :, :2].flatten(0, 1), offsets.flatten(0, 1),
                                      (exists > 0).flatten(0, 1))
        return {"loss_past_existence": self.existence_weight * existence,
                "loss_past_offset": self.offset_weight * regression}
