"""Reciprocal rank fusion (RRF): how a hybrid search merges the rankings of its sides.

Qdrant fuses hybrid queries itself (``FusionQuery(fusion=Fusion.RRF)`` in :mod:`integrations.qdrant`, the
LangChain and Haystack Qdrant retrievers); this is the same rule for rankings computed in memory (``finetune``
compares retrieval stacks with it), so a stack scores the same here as through the store: each document gets
``1 / (k + rank)`` from every ranking that holds it (rank counted from 0, ``k`` = :data:`RRF_K`, Qdrant's
default), the sums are sorted descending, and ties keep the order in which documents were first met, the
first ranking's before the second's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sbert_plugins.errors import ConfigError

RRF_K = 2


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K, limit: int | None = None
) -> list[tuple[str, float]]:
    """Fuse rankings of document ids (each best first) into one.

    Args:
        rankings: the sides' rankings, in the order the store lists its prefetches (dense first in
            :meth:`integrations.qdrant.QdrantIngestor.search`).
        k: the rank constant (a positive integer).
        limit: keep this many (``None``: every document met).

    Returns:
        ``(document id, fused score)`` pairs, best first.

    Raises:
        ConfigError: ``k`` or ``limit`` is not a positive integer.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"the RRF constant k must be a positive integer, found {k!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ConfigError(f"limit must be a positive integer or None, found {limit!r}")
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    ordered = sorted(fused.items(), key=lambda item: -item[1])  # stable: ties keep first-met order
    return ordered if limit is None else ordered[:limit]


__all__ = ["RRF_K", "reciprocal_rank_fusion"]
