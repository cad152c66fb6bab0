"""Association (embedding) losses of thesis §2.4.2 (eq. 2.5-2.7) and §4.2.

Every function takes embeddings ``E`` (N, D), identity labels ``y`` (N,) (track ids) and class labels ``c`` (N,).
Pairs and triplets are formed only within a class: a positive of anchor ``a`` is another embedding with the same
class and identity, a negative one with the same class and another identity. Anchors without a positive or
without a negative take no part. Distances are Euclidean; at coincident embeddings they are exactly 0 with a zero
(not NaN) gradient. With no valid anchor / pair the loss is a zero that keeps the graph.
"""
from __future__ import annotations

import math

import torch

LOSSES = ("batch_hard", "batch_all", "p_quantile", "contrastive")


def pairwise_distances(E: torch.Tensor) -> torch.Tensor:
    """(N, N) Euclidean distances from the Gram matrix (N x N memory and a matrix product, not N x N x D: the
    5000 pixel embeddings of a pixel-embedding window take 0.1 GB, not 1.6 GB, and a tenth of the time); exact zeros
    (gradient 0) on the diagonal and where the squared distance rounds to zero or below."""
    norms = E.pow(2).sum(1)
    sq = (norms[:, None] + norms[None, :] - 2 * E @ E.T).fill_diagonal_(0)
    nonzero = sq > 0
    return torch.where(nonzero, sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt(), torch.zeros_like(sq))


def _masks(y: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) boolean (N, N) masks: same class & same id & not self / same class & other id."""
    same_class = c[:, None] == c[None, :]
    same_id = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
    return same_class & same_id & ~eye, same_class & ~same_id


def _zero(E: torch.Tensor) -> torch.Tensor:
    return E.sum() * 0.0


def batch_hard_triplet(E: torch.Tensor, y: torch.Tensor, c: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch hard triplet loss (eq. 2.7, [HBL17]): mean over valid anchors of
    ``relu(max_p |a - p| - min_n |a - n| + margin)``. The thesis normalises by |E|; with every anchor valid
    (the usual case) that is the same number."""
    d = pairwise_distances(E)
    pos, neg = _masks(y, c)
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return _zero(E)
    hardest_pos = d.masked_fill(~pos, float("-inf")).amax(1)
    hardest_neg = d.masked_fill(~neg, float("inf")).amin(1)
    return torch.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def _triplet_losses(E: torch.Tensor, y: torch.Tensor, c: torch.Tensor, margin: float) -> torch.Tensor:
    """``relu(|a - p| - |a - n| + margin)`` of every valid triplet (a, p, n), flattened."""
    d = pairwise_distances(E)
    pos, neg = _masks(y, c)
    valid = pos[:, :, None] & neg[:, None, :]
    return torch.relu(d[:, :, None] - d[:, None, :] + margin)[valid]


def batch_all_triplet(E: torch.Tensor, y: torch.Tensor, c: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch all triplet loss (eq. 2.6): the mean over **all** valid triplets, zero-loss ones included ("normalized
    over the total number of triplets", thesis §2.4.2; [HBL17]'s "BA≠0" variant would average only the
    positive ones)."""
    losses = _triplet_losses(E, y, c, margin)
    return losses.mean() if len(losses) else _zero(E)


def p_quantile_triplet(E: torch.Tensor, y: torch.Tensor, c: torch.Tensor, p: float = 0.5,
                       margin: float = 0.2) -> torch.Tensor:
    """Triplet loss with p-quantile sampling ([Gru18] via thesis §2.4.2): the mean over the ``ceil(p * n)``
    hardest of the n valid triplets (largest loss first); p = 1 is :func:`batch_all_triplet`."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    losses = _triplet_losses(E, y, c, margin)
    if not len(losses):
        return _zero(E)
    return losses.topk(math.ceil(p * len(losses))).values.mean()


def contrastive(E: torch.Tensor, y: torch.Tensor, c: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Contrastive loss (eq. 2.5, [HCL06]): squared distance of same-identity pairs plus squared hinge
    ``relu(margin - |e - d|)^2`` of other-identity pairs, summed over ordered pairs (e, d) of one class (e = d
    included, as in the eq.) and divided by their number, ``sum_c |E_c|^2`` (= |E|^2 for one class)."""
    d = pairwise_distances(E)
    same_class = c[:, None] == c[None, :]
    same_id = y[:, None] == y[None, :]
    terms = torch.where(same_id, d.pow(2), torch.relu(margin - d).pow(2))
    return terms[same_class].mean() if len(E) else _zero(E)


def association_loss(kind: str, E: torch.Tensor, y: torch.Tensor, c: torch.Tensor, margin: float = 0.2,
                     p: float = 0.5) -> torch.Tensor:
    """Dispatch by name (one of :data:`LOSSES`); ``p`` is used by ``'p_quantile'`` only."""
    if kind == "batch_hard":
        return batch_hard_triplet(E, y, c, margin)
    if kind == "batch_all":
        return batch_all_triplet(E, y, c, margin)
    if kind == "p_quantile":
        return p_quantile_triplet(E, y, c, p, margin)
    if kind == "contrastive":
        return contrastive(E, y, c, margin)
    raise ValueError(f"association loss must be one of {LOSSES}, got {kind!r}")
