"""Similarities and distances the losses share: row by row (``pairwise_*``) and all pairs (``*_matrix``)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.similarity import similarity_function

PairDistance = Literal["euclidean", "cosine", "manhattan"]
PAIR_DISTANCES: tuple[str, ...] = ("euclidean", "cosine", "manhattan")

MatrixDistance = Literal["euclidean", "squared_euclidean", "cosine"]
MATRIX_DISTANCES: tuple[str, ...] = ("euclidean", "squared_euclidean", "cosine")

Similarity = Literal["cosine", "dot", "euclidean", "manhattan"]
SIMILARITIES: tuple[str, ...] = ("cosine", "dot", "euclidean", "manhattan")


def pairwise_cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of ``a[i]`` with ``b[i]``: shape ``(batch,)``."""
    return (F.normalize(a, p=2, dim=-1) * F.normalize(b, p=2, dim=-1)).sum(dim=-1)


def pairwise_dot(a: Tensor, b: Tensor) -> Tensor:
    """Dot product of ``a[i]`` with ``b[i]``."""
    return (a * b).sum(dim=-1)


def pairwise_angle(a: Tensor, b: Tensor) -> Tensor:
    """AnglE similarity ``|cos + sin|`` of ``a[i]`` and ``b[i]`` (dimension ``k`` pairs with ``k + dim/2``).

    Each embedding is read as a complex vector (first half real, second half imaginary parts) after
    L2 normalisation; an odd dimension is padded with one zero.
    """
    if a.shape[-1] % 2:
        a, b = F.pad(a, (0, 1)), F.pad(b, (0, 1))
    a, b = F.normalize(a, p=2, dim=-1), F.normalize(b, p=2, dim=-1)
    a_re, a_im = a.chunk(2, dim=-1)
    b_re, b_im = b.chunk(2, dim=-1)
    cosine = (a * b).sum(dim=-1)
    sine = (a_im * b_re - a_re * b_im).sum(dim=-1)
    return (cosine + sine).abs()


def pairwise_distance(a: Tensor, b: Tensor, metric: PairDistance) -> Tensor:
    """Distance between ``a[i]`` and ``b[i]``: euclidean, cosine (``1 - cos``) or manhattan."""
    if metric == "euclidean":
        # vector_norm has a zero (not NaN) gradient where a[i] == b[i].
        return torch.linalg.vector_norm(a - b, ord=2, dim=-1)
    if metric == "manhattan":
        return (a - b).abs().sum(dim=-1)
    return 1.0 - pairwise_cosine(a, b)


def distance_matrix(x: Tensor, metric: MatrixDistance) -> Tensor:
    """Distances between every pair of rows of ``x``: shape ``(batch, batch)``, finite gradients on the diagonal."""
    if metric == "cosine":
        return 1.0 - similarity_function("cosine")(x, x)
    gram = x @ x.T
    norms = gram.diagonal()
    # |a-b|^2 = |a|^2 - 2<a,b> + |b|^2: exactly 0 on the diagonal; rounding can make others slightly negative.
    squared = (norms.unsqueeze(0) - 2.0 * gram + norms.unsqueeze(1)).clamp_min(0.0)
    if metric == "squared_euclidean":
        return squared
    # sqrt has an infinite gradient at 0: take it only where the distance is positive.
    positive = squared > 0
    return torch.where(positive, squared.clamp_min(1e-30).sqrt(), torch.zeros_like(squared))


def similarity_matrix(a: Tensor, b: Tensor, name: Similarity) -> Tensor:
    """Similarity of every row of ``a`` with every row of ``b`` (euclidean/manhattan: negative distances)."""
    return similarity_function(name)(a, b)
