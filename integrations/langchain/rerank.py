"""Re-ranking for LangChain: SBERTReranker (a document compressor) and RerankingRetriever."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from integrations._encoder_lock import encoder_lock
from integrations.scoring import BiEncoderScorer, PairScorer, is_pair_scorer, scores_as_list
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder.fusion import first_stage_scores, fuse_scores, reranker_scores
from sbert_plugins.cross_encoder.fusion_record import (
    FUSION_FILE,
    FusionRecord,
    applied_fusion_weight,
    read_fusion_record,
)
from sbert_plugins.errors import ConfigError
from sbert_plugins.loading import HubOptions, resolve_model_path

SCORE_KEY = "relevance_score"
DEFAULT_FETCH_K = 20


class SBERTReranker(BaseDocumentCompressor):
    """Re-scores documents against a query and keeps the best ``top_n``, each with its score.

    Nothing is loaded that was not named: pass a cross-encoder ``model``, a bi-encoder ``encoder``, or
    both to mix their scores.

    Args:
        model: a cross-encoder (anything with ``predict(pairs, batch_size=...)``, see
            :class:`~integrations.scoring.PairScorer`), or the path or id of a cross-encoder,
            loaded as :class:`sbert_plugins.cross_encoder.CrossEncoder` on first use. ``None``: re-score
            with the bi-encoder ``encoder``.
        encoder: a :class:`SentenceEncoder`: the scorer when ``model`` is ``None`` (the model's similarity
            between the query, with its query prompt, and the document, with its document prompt), and
            the first stage of the fusion when ``model`` is given.
        fusion_weight: score each document by the fusion rule (:mod:`sbert_plugins.cross_encoder.fusion`):
            this share of the cross-encoder's standardised logit plus the rest of the ``encoder``'s
            standardised similarity, over the documents passed in. ``"recorded"`` (default): the weight
            saved in the cross-encoder's folder (``fusion.json``, written by ``sbert-plugins finetune
            --reranker-output``), checked against ``encoder``'s fingerprint (another bi-encoder is an
            error), or no fusion when the folder has none; a number: that weight (a warning when the folder
            records another bi-encoder); ``None``: the cross-encoder alone.
        top_n: how many documents to keep (a positive integer, default 3).
        score_threshold: after cutting to ``top_n``, drop documents scoring below this.
        batch_size: pairs (or texts) per forward pass.

    Returns copies of the documents sorted by descending score (ties keep their input order) with the
    score in ``metadata["relevance_score"]``: the cross-encoder's (with its activation), the bi-encoder's
    similarity, or the fused score. The caller's documents are never changed. Invalid arguments raise
    ``pydantic.ValidationError``: ``top_n <= 0``; neither ``model`` nor ``encoder``; a fusion weight
    without ``model``, outside [0, 1], or without ``encoder`` to mix with; both models and no weight; a
    recorded weight tuned with another bi-encoder.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: PairScorer | str | Path | None = Field(default=None, repr=False)
    encoder: SentenceEncoder | None = Field(default=None, exclude=True, repr=False)
    top_n: int = Field(default=3, gt=0, strict=True)
    score_threshold: float | None = None
    batch_size: int = Field(default=32, gt=0, strict=True)
    fusion_weight: float | Literal["recorded"] | None = "recorded"

    _scorer: PairScorer | None = PrivateAttr(default=None)
    _record: FusionRecord | None = PrivateAttr(default=None)
    _weight: float | None = PrivateAttr(default=None)
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

    @field_validator("fusion_weight")
    @classmethod
    def _check_weight(cls, value: Any) -> Any:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"fusion_weight must lie in [0, 1], found {value}")
        return value

    @model_validator(mode="after")
    def _check_scorers(self) -> SBERTReranker:
        if self.model is None:
            if self.encoder is None:
                raise ValueError(
                    "pass model= (a cross-encoder, or its folder) or encoder= (a SentenceEncoder) to score with; "
                    "no model is loaded by default"
                )
            if isinstance(self.fusion_weight, float):
                raise ValueError("fusion_weight mixes a cross-encoder's scores with the encoder's: pass model too")
            return self
        if isinstance(self.model, (str, Path)):
            # A model that cannot be found is an error now, not at the first invoke(); the weights load late.
            resolve_model_path(str(self.model), HubOptions())
        folder = _model_folder(self.model)
        self._record = read_fusion_record(folder) if folder is not None else None  # its candidates, for messages
        loaded = getattr(self.model, "fingerprint", None)  # a CrossEncoder object: check it now too
        self._weight = applied_fusion_weight(
            self.fusion_weight,
            folder,
            first_stage_fingerprint=self.encoder.fingerprint if self.encoder is not None else None,
            reranker_fingerprint=loaded if isinstance(loaded, str) else None,
        )
        if self._weight is None:
            if self.encoder is not None:
                raise ValueError(
                    "pass either model (a cross-encoder) or encoder (a bi-encoder), or both with a fusion_weight "
                    f"(the cross-encoder's folder {folder or ''} holds no {FUSION_FILE} to take one from)"
                )
            return self
        if self.encoder is None:
            tuned_with = f"SentenceEncoder({self._record.first_stage!r}), " if self._record is not None else ""
            raise ValueError(
                f"fusing with weight {self._weight} needs the first-stage bi-encoder: pass encoder={tuned_with}"
                "the model that found the candidates, or fusion_weight=None to rank by the cross-encoder alone"
            )
        return self

    @property
    def applied_fusion_weight(self) -> float | None:
        """The fusion weight in use (given, or read from the cross-encoder's folder); ``None``: no fusion."""
        return self._weight

    @property
    def fusion_candidates(self) -> int | None:
        """How many first-stage candidates per query the recorded weight was tuned over (``None``: no record)."""
        return self._record.candidates if self._record is not None else None

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

            cross_encoder = CrossEncoder(self.model)
            # The re-ranker's fingerprint is known only now; the first stage was checked at construction.
            applied_fusion_weight(
                self.fusion_weight, _model_folder(self.model), reranker_fingerprint=cross_encoder.fingerprint
            )
            scorer: PairScorer = cross_encoder
            return scorer
        if self.model is not None:
            return self.model
        if self.encoder is None:  # excluded at construction
            raise ConfigError("SBERTReranker has neither a cross-encoder model nor an encoder")
        return BiEncoderScorer(self.encoder)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text for ``query``, in the order of ``texts``: with a fusion weight, the
        fused score of the rule in :mod:`sbert_plugins.cross_encoder.fusion` over these texts.

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
        if self._weight is None:
            return scores_as_list(scorer.predict(pairs, batch_size=self.batch_size), len(pairs), scorer)
        logits = scores_as_list(reranker_scores(scorer, pairs, batch_size=self.batch_size), len(pairs), scorer)
        encoder = self.encoder
        if encoder is None:  # excluded at construction
            raise ConfigError("fusion needs the first-stage encoder")
        with encoder_lock(encoder):
            first = first_stage_scores(encoder, query, [text for _, text in pairs], batch_size=self.batch_size)
        return [float(x) for x in fuse_scores(first, logits, self._weight)]

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
        fetch_k: how many candidates to fetch; default: as many as the reranker's recorded fusion weight
            was tuned over (:attr:`SBERTReranker.fusion_candidates`), else 20 (and at least ``k``). When
            the base retriever has ``search_kwargs`` (vector store retrievers), a copy of it with
            ``search_kwargs["k"] = fetch_k`` is queried (the base retriever itself is not changed);
            otherwise its results are cut to ``fetch_k``.
        k: how many documents to return; default: the reranker's ``top_n``; at most ``fetch_k``. Also per
            call: ``retriever.invoke(query, k=3)``. Other keyword arguments of a call go to the base retriever.

    Returned documents carry their re-ranking score in ``metadata["relevance_score"]``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    base_retriever: BaseRetriever
    reranker: SBERTReranker
    fetch_k: int | None = Field(default=None, gt=0, strict=True)
    k: int | None = Field(default=None, gt=0, strict=True)

    @model_validator(mode="after")
    def _check_k(self) -> RerankingRetriever:
        if self.returned > self.fetched:
            raise ValueError(
                f"k={self.returned} is larger than fetch_k={self.fetched}: re-ranking returns only fetched "
                "candidates; raise fetch_k or lower k (or the reranker's top_n)"
            )
        return self

    @property
    def fetched(self) -> int:
        """The candidates fetched per query: ``fetch_k``, else (at least ``k``) the candidates the reranker's
        recorded weight was tuned over, else 20."""
        if self.fetch_k is not None:
            return self.fetch_k
        return max(self.reranker.fusion_candidates or DEFAULT_FETCH_K, self.returned)

    @property
    def returned(self) -> int:
        """The documents returned per query (``k``, else the reranker's ``top_n``)."""
        return self.k if self.k is not None else self.reranker.top_n

    def _plan(self, k: int | None) -> tuple[int, int, BaseRetriever]:
        """(documents to return, candidates to fetch, the retriever to fetch them from) for one call."""
        limit = self.returned if k is None else check_positive("k", k)
        fetch = max(self.fetched, limit)
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


def _model_folder(model: Any) -> Path | None:
    """The local folder of a cross-encoder given by path, or of a loaded one that remembers it."""
    source = model if isinstance(model, (str, Path)) else getattr(model, "source", None)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return Path(source)
    return None
