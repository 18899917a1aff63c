"""Re-ranking for LangChain: SBERTReranker (a document compressor) and RerankingRetriever."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from integrations.langchain.scoring import BiEncoderScorer, PairScorer, is_pair_scorer, scores_as_list
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder.fusion import fuse_scores
from sbert_plugins.errors import ConfigError

SCORE_KEY = "relevance_score"


class SBERTReranker(BaseDocumentCompressor):
    """Re-scores documents against a query and keeps the best ``top_n``, each with its score.

    Args:
        model: a cross-encoder (anything with ``predict(pairs, batch_size=...)``, see
            :class:`~integrations.langchain.scoring.PairScorer`), or the path or id of a cross-encoder,
            loaded as :class:`sbert_plugins.cross_encoder.CrossEncoder` on first use. ``None``
            (default): re-score with the bi-encoder ``encoder``.
        encoder: the :class:`SentenceEncoder` used when ``model`` is ``None`` (default: the default
            model, loaded on first use); the score is the model's similarity between the query
            (query prompt) and the document (document prompt).
        fusion_weight: with a cross-encoder ``model``, score each document by
            :func:`sbert_plugins.cross_encoder.fuse_scores`: this share of the cross-encoder's score plus
            the rest of the bi-encoder's (``encoder``'s), each standardised over the candidates. Useful when
            the cross-encoder alone ranks worse than the bi-encoder, and needed for one trained as a
            correction of the bi-encoder (``sbert-plugins finetune --reranker-output`` chooses the weight on
            held-out queries and records it as ``fusion_weight`` in ``metrics.json``).
        top_n: how many documents to keep (a positive integer, default 3).
        score_threshold: after cutting to ``top_n``, drop documents scoring below this.
        batch_size: pairs (or texts) per forward pass.

    Returns copies of the documents sorted by descending score (ties keep their input order) with the
    score in ``metadata["relevance_score"]``; the caller's documents are never changed. Invalid
    arguments (``top_n <= 0``, both ``model`` and ``encoder`` without ``fusion_weight``, a
    ``fusion_weight`` without ``model`` or outside [0, 1]) raise ``pydantic.ValidationError``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: PairScorer | str | Path | None = Field(default=None, repr=False)
    encoder: SentenceEncoder | None = Field(default=None, exclude=True, repr=False)
    top_n: int = Field(default=3, gt=0, strict=True)
    score_threshold: float | None = None
    batch_size: int = Field(default=32, gt=0, strict=True)
    fusion_weight: float | None = Field(default=None, ge=0.0, le=1.0)

    _scorer: PairScorer | None = PrivateAttr(default=None)
    _first_stage: BiEncoderScorer | None = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("model", mode="before")
    @classmethod
    def _check_model(cls, value: Any) -> Any:
        if value is None or isinstance(value, (str, Path)) or is_pair_scorer(value):
            return value
        raise ValueError(
            f"model must be a cross-encoder (an object with a predict(pairs, batch_size=...) method), "
            f"a path or id to load one, or None for the bi-encoder; found {type(value).__name__}"
        )

    @model_validator(mode="after")
    def _check_one_scorer(self) -> SBERTReranker:
        if self.fusion_weight is not None and self.model is None:
            raise ValueError("fusion_weight mixes a cross-encoder's scores with the encoder's: pass model too")
        if self.model is not None and self.encoder is not None and self.fusion_weight is None:
            raise ValueError(
                "pass either model (a cross-encoder) or encoder (a bi-encoder), or both with a fusion_weight"
            )
        return self

    @property
    def scorer(self) -> PairScorer:
        """The pair scorer in use, loaded on first access."""
        if self._scorer is None:
            with self._load_lock:
                if self._scorer is None:
                    self._scorer = self._load_scorer()
        return self._scorer

    def _load_scorer(self) -> PairScorer:
        if isinstance(self.model, (str, Path)):
            from sbert_plugins.cross_encoder import CrossEncoder  # loaded only when a path is given

            cross_encoder: PairScorer = CrossEncoder(self.model)
            return cross_encoder
        if self.model is not None:
            return self.model
        if self.encoder is not None:
            return BiEncoderScorer(self.encoder)
        return BiEncoderScorer(SentenceEncoder().eval())  # loaded here, for inference only

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text for ``query``, in the order of ``texts``.

        Raises:
            TypeError: ``query`` or a text is not a string.
            IntegrationError: the scorer returned the wrong number of scores or a non-finite one.
        """
        if not isinstance(query, str):
            raise TypeError(f"expected the query as a str, found {type(query).__name__}")
        pairs = [(query, _text_at(texts, index)) for index in range(len(texts))]
        if not pairs:
            return []
        scorer = self.scorer
        scores = scores_as_list(scorer.predict(pairs, batch_size=self.batch_size), len(pairs), scorer)
        if self.fusion_weight is None:
            return scores
        first_stage = self._first_stage_scorer()
        first = scores_as_list(first_stage.predict(pairs, batch_size=self.batch_size), len(pairs), first_stage)
        return [float(x) for x in fuse_scores(first, scores, self.fusion_weight)]

    def _first_stage_scorer(self) -> BiEncoderScorer:
        with self._load_lock:
            if self._first_stage is None:
                encoder = self.encoder if self.encoder is not None else SentenceEncoder().eval()
                self._first_stage = BiEncoderScorer(encoder)
        return self._first_stage

    def rerank(self, documents: Sequence[Document], query: str, *, top_n: int | None = None) -> list[Document]:
        """Score ``documents`` against ``query``; return the best ``top_n`` (default ``self.top_n``) as
        scored copies, best first, then without those scoring below ``score_threshold``.

        Raises:
            ConfigError: ``top_n`` is not a positive integer.
        """
        limit = self.top_n if top_n is None else check_positive("top_n", top_n)
        candidates = list(documents)
        if not candidates:
            return []
        scores = self.score(query, [document.page_content for document in candidates])
        order = sorted(range(len(candidates)), key=lambda index: -scores[index])[:limit]
        ranked = [_with_score(candidates[index], scores[index]) for index in order]
        if self.score_threshold is not None:
            ranked = [doc for doc, index in zip(ranked, order, strict=True) if scores[index] >= self.score_threshold]
        return ranked

    async def arerank(self, documents: Sequence[Document], query: str, *, top_n: int | None = None) -> list[Document]:
        """:meth:`rerank` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.rerank, documents, query, top_n=top_n)

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """LangChain's compressor interface: :meth:`rerank` with ``self.top_n``."""
        return self.rerank(documents, query)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`, scoring in a worker thread."""
        return await self.arerank(documents, query)


class RerankingRetriever(BaseRetriever):
    """Fetches ``fetch_k`` candidates from any retriever and returns the ``k`` best after re-ranking.

    Args:
        base_retriever: the first-stage retriever (e.g. ``QdrantVectorStore.as_retriever()``).
        reranker: the :class:`SBERTReranker` that re-scores the candidates.
        fetch_k: how many candidates to fetch (default 20). When the base retriever has
            ``search_kwargs`` (vector store retrievers), a copy of it with ``search_kwargs["k"] = fetch_k``
            is queried (the base retriever itself is not changed); otherwise its results are cut to ``fetch_k``.
        k: how many documents to return (default 4; at most ``fetch_k``). Also per call:
            ``retriever.invoke(query, k=3)``. Other keyword arguments of a call go to the base retriever.

    Returned documents carry their re-ranking score in ``metadata["relevance_score"]``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    base_retriever: BaseRetriever
    reranker: SBERTReranker
    fetch_k: int = Field(default=20, gt=0, strict=True)
    k: int = Field(default=4, gt=0, strict=True)

    @model_validator(mode="after")
    def _check_k(self) -> RerankingRetriever:
        if self.k > self.fetch_k:
            raise ValueError(
                f"k={self.k} is larger than fetch_k={self.fetch_k}: re-ranking returns only fetched candidates; "
                "raise fetch_k or lower k"
            )
        return self

    def _plan(self, k: int | None) -> tuple[int, int, BaseRetriever]:
        """(documents to return, candidates to fetch, the retriever to fetch them from) for one call."""
        limit = self.k if k is None else check_positive("k", k)
        fetch = max(self.fetch_k, limit)
        base = self.base_retriever
        search_kwargs = getattr(base, "search_kwargs", None)
        if isinstance(search_kwargs, dict) and isinstance(base, BaseModel):
            base = base.model_copy(update={"search_kwargs": {**search_kwargs, "k": fetch}})
        return limit, fetch, base

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        limit, fetch, base = self._plan(k)
        candidates = base.invoke(query, config={"callbacks": run_manager.get_child()}, **kwargs)
        return self.reranker.rerank(candidates[:fetch], query, top_n=limit)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        limit, fetch, base = self._plan(k)
        candidates = await base.ainvoke(query, config={"callbacks": run_manager.get_child()}, **kwargs)
        return await self.reranker.arerank(candidates[:fetch], query, top_n=limit)


def check_positive(name: str, value: Any) -> int:
    """Return ``value`` if it is a positive integer, else raise :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, found {value!r}")
    return value


def _text_at(texts: Sequence[str], index: int) -> str:
    text = texts[index]
    if not isinstance(text, str):
        raise TypeError(f"document at index {index} has page_content of type {type(text).__name__}, expected str")
    return text


def _with_score(document: Document, score: float) -> Document:
    return document.model_copy(update={"metadata": {**document.metadata, SCORE_KEY: score}})
