"""Hybrid dense + sparse search by the project's fusion rule (vendor-free).

Reciprocal rank fusion (RRF) needs ranks only, and Qdrant computes it. The fusion rule
(:func:`sbert_plugins.cross_encoder.fusion.fuse_scores`: z-scores over one query's candidates, then
``weight * z(sparse) + (1 - weight) * z(dense)``) needs both scores of every candidate, which it
standardises over the same candidates; that makes the two sides comparable when each gives every
document a score on one scale: the dense model's similarity, and a sparse dot product (a learned sparse
model's weights, or BM25 with the collection's IDF), which is 0 for a document sharing no term with the
query. The candidates are the union of each side's best ``prefetch_k``; the store supplies the missing
score of each candidate on the other side.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal, TypeVar

from sbert_plugins.cross_encoder.fusion import fuse_scores
from sbert_plugins.errors import ConfigError

SparseKind = Literal["bm25", "learned"]
"""Which sparse vectors a search uses: BM25 (``hybrid=True``) or a learned sparse model's (``sparse_model=``)."""
SPARSE_KINDS = ("bm25", "learned")

K = TypeVar("K", bound=Hashable)


def check_sparse_weight(weight: float) -> float:
    """``weight`` if it lies in [0, 1], else :class:`ConfigError`."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise ConfigError(f"sparse_weight must lie in [0, 1] (the sparse side's share), found {weight!r}")
    return float(weight)


def fuse_candidates(dense: Mapping[K, float], sparse: Mapping[K, float], sparse_weight: float) -> list[tuple[K, float]]:
    """Candidates ranked by the fusion rule, best first (ties keep the order of ``dense``).

    Args:
        dense: every candidate's dense score (higher is better).
        sparse: every candidate's sparse score, for the same candidates.
        sparse_weight: the sparse side's share, from 0.0 (dense only) to 1.0 (sparse only).

    Returns:
        ``(candidate, fused score)`` pairs.

    Raises:
        ConfigError: the two sides score different candidates, or ``sparse_weight`` is outside [0, 1].
    """
    weight = check_sparse_weight(sparse_weight)
    if dense.keys() != sparse.keys():
        missing = sorted(map(str, dense.keys() ^ sparse.keys()))[:5]
        raise ConfigError(f"the dense and sparse sides must score the same candidates; only one side scores {missing}")
    candidates = list(dense)
    fused = fuse_scores([dense[c] for c in candidates], [sparse[c] for c in candidates], weight)
    order = sorted(range(len(candidates)), key=lambda i: -float(fused[i]))
    return [(candidates[i], float(fused[i])) for i in order]
