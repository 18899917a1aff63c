"""Scores for ``POST /rerank`` (vendor-free): the embedding model's similarity, a cross-encoder's scores,
or both mixed by the project's fusion rule."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import numpy as np

from integrations._encoder_lock import encoder_lock
from integrations.serve.engine import BatchObserver, EmbeddingEngine
from sbert_plugins.cross_encoder import CrossEncoder, fuse_scores
from sbert_plugins.cross_encoder.fusion import reranker_scores
from sbert_plugins.cross_encoder.fusion_record import applied_fusion_weight
from sbert_plugins.errors import ConfigError

Pair = tuple[str, str]


def fused(first_stage: list[float], reranker: list[float], weight: float) -> list[float]:
    """The project's one fusion rule (:mod:`sbert_plugins.cross_encoder.fusion`) applied to one query's
    candidates; the server's only use of that module, so a change of the rule changes it here alone."""
    return [float(score) for score in fuse_scores(first_stage, reranker, weight)]


class RerankScorer:
    """Scores documents against a query, batching the work of concurrent requests.

    Args:
        engine: embeds the query (query prompt) and the documents (document prompt); without a
            ``cross_encoder``, the score is the embedding model's similarity between them.
        cross_encoder: scores (query, document) pairs; one score per pair is required.
        fusion_weight: with a ``cross_encoder``: score by :func:`fused`, this share of the
            cross-encoder's logit and the rest of the embedding model's similarity (both standardised).
            ``"recorded"``: the weight saved in the cross-encoder's folder (``fusion.json``), checked
            against both models' fingerprints, or no fusion when there is none; ``None``: no fusion.
        observer: told the size and duration of each cross-encoder batch.

    Raises:
        ConfigError: a cross-encoder with more than one output label, or ``fusion_weight`` without
            ``cross_encoder``.
    """

    def __init__(
        self,
        engine: EmbeddingEngine,
        cross_encoder: CrossEncoder | None = None,
        *,
        fusion_weight: float | Literal["recorded"] | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        if cross_encoder is not None and cross_encoder.num_labels != 1:
            raise ConfigError(
                f"the re-ranker has num_labels={cross_encoder.num_labels}; /rerank needs one score per pair"
            )
        if isinstance(fusion_weight, float) and cross_encoder is None:
            raise ConfigError("fusion_weight mixes a cross-encoder's scores with the embedding model's: give one")
        self.engine = engine
        self.cross_encoder = cross_encoder
        self.fusion_weight = (
            applied_fusion_weight(
                fusion_weight,
                cross_encoder.source,
                first_stage_fingerprint=engine.encoder.fingerprint,
                reranker_fingerprint=cross_encoder.fingerprint,
            )
            if cross_encoder is not None
            else None
        )
        self.observer = observer

    @property
    def method(self) -> str:
        """How scores are made: ``"similarity"``, ``"cross-encoder"`` or ``"fusion"``."""
        if self.cross_encoder is None:
            return "similarity"
        return "cross-encoder" if self.fusion_weight is None else "fusion"

    async def score(self, query: str, documents: list[str]) -> list[float]:
        """One score per document (at least one), in the order of ``documents``; higher is more relevant.

        Raises:
            QueueFullError: the queue is full.
        """
        if self.cross_encoder is None:
            return await self._similarities(query, documents)
        if self.fusion_weight is None:
            return await self._cross_scores(query, documents)
        first, second = await asyncio.gather(self._similarities(query, documents), self._cross_scores(query, documents))
        return fused(first, second, self.fusion_weight)

    async def _similarities(self, query: str, documents: list[str]) -> list[float]:
        embedded_query, embedded_documents = await asyncio.gather(
            self.engine.embed([query], "query"), self.engine.embed(documents, "document")
        )
        scores = self.engine.encoder.similarity(embedded_query.vectors, embedded_documents.vectors)
        return [float(score) for score in np.asarray(scores, dtype=np.float64).reshape(-1)]

    async def _cross_scores(self, query: str, documents: list[str]) -> list[float]:
        return list(await self.engine.batcher.submit(("rerank",), [(query, text) for text in documents], self._predict))

    def _predict(self, pairs: list[Pair]) -> list[float]:
        cross_encoder = self.cross_encoder
        if cross_encoder is None:  # only submitted when there is one
            raise ConfigError("no cross-encoder is configured")
        start = time.perf_counter()
        with encoder_lock(cross_encoder):
            if self.fusion_weight is None:
                scores: np.ndarray = cross_encoder.predict(pairs, show_progress=False)
            else:  # the fusion rule mixes logits
                scores = reranker_scores(cross_encoder, pairs)
        if self.observer is not None:
            self.observer.observe_batch("rerank", len(pairs), None, time.perf_counter() - start)
        return [float(score) for score in scores]
