"""SBERTRanker: re-ranks Haystack Documents with a cross-encoder or a bi-encoder."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any, Literal

from haystack import Document, component
from haystack.utils import ComponentDevice, Secret

from integrations._base import positive_int
from integrations._encoder_lock import encoder_lock
from integrations.haystack._common import (
    DEFAULT_TOKEN,
    LazyModel,
    SerializableComponent,
    check_device,
    check_documents,
    check_meta_fields,
    check_model_name,
    check_query,
    check_separator,
    check_token,
    document_texts,
    loading_kwargs,
)
from integrations.scoring import BiEncoderScorer, PairScorer, scores_as_list
from sbert_plugins.cross_encoder.fusion import fuse_scores
from sbert_plugins.device import EncoderPrecision, check_encoder_precision
from sbert_plugins.errors import ConfigError

ModelType = Literal["cross_encoder", "bi_encoder"]


def fused_with_first_stage(first_stage: list[float], reranker: list[float], weight: float) -> list[float]:
    """The project's one fusion rule applied to one query's candidates (the only place this adapter mixes).

    Args:
        first_stage: the candidates' scores from the retriever (``Document.score`` as it arrived).
        reranker: the same candidates' scores from the ranker's model.
        weight: the ranker's share, 0.0 (first stage only) to 1.0 (ranker only).
    """
    return [float(x) for x in fuse_scores(first_stage, reranker, weight)]


@component
class SBERTRanker(SerializableComponent):
    """Scores documents against a query and returns the best ``top_k`` as copies with ``score`` set.

    Args:
        model: a cross-encoder folder or id (e.g. from ``sbert-plugins finetune --reranker-output``)
            for ``model_type="cross_encoder"`` (default), or a Sentence-BERT folder or id for
            ``model_type="bi_encoder"`` (the score is the model's similarity between the query, with
            its query prompt, and the document, with its document prompt).
        model_type: ``"cross_encoder"`` or ``"bi_encoder"``.
        top_k: how many documents to return (a positive integer, default 10); also per call.
        score_threshold: drop documents scoring below this (after the ``top_k`` cut); also per call.
        fusion_weight: score each document by the project's fusion rule
            (:func:`sbert_plugins.cross_encoder.fuse_scores`): this share of the model's score plus the
            rest of the score the document arrived with (its retriever's), each standardised over the
            candidates. ``finetune --reranker-output`` tunes it against bi-encoder cosines, so put the
            ranker after a dense retriever of the fine-tuned model. Every document then needs a score.
        meta_fields_to_embed, embedding_separator: metadata values read before the content.
        batch_size: pairs (or, for a bi-encoder, texts at most) per forward pass.
        device, token, precision, revision, local_files_only, trust_remote_code: how to load the model;
            ``precision`` is ``"fp32"``, ``"bf16"`` or ``"fp16"`` (and ``"int8"`` for a bi-encoder).

    ``run(query, documents, top_k=None, score_threshold=None)`` returns ``{"documents": [...]}``, best
    first (ties keep input order); the caller's documents are unchanged. Raises ``ConfigError`` on
    invalid settings, ``TypeError`` for a non-string query or non-Document input, ``ValueError`` for a
    document without content, or without a score when fusing.
    """

    def __init__(
        self,
        *,
        model: str,
        model_type: ModelType = "cross_encoder",
        top_k: int = 10,
        score_threshold: float | None = None,
        fusion_weight: float | None = None,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        batch_size: int = 32,
        device: ComponentDevice | None = None,
        token: Secret | None = DEFAULT_TOKEN,
        precision: EncoderPrecision = "fp32",
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        self.model = check_model_name(model)
        if model_type not in ("cross_encoder", "bi_encoder"):
            raise ConfigError(f"model_type must be 'cross_encoder' or 'bi_encoder', found {model_type!r}")
        self.model_type: ModelType = model_type
        self.top_k = positive_int("top_k", top_k)
        self.score_threshold = _check_threshold(score_threshold)
        if fusion_weight is not None and (
            isinstance(fusion_weight, bool)
            or not isinstance(fusion_weight, (int, float))
            or not 0 <= fusion_weight <= 1
        ):
            raise ConfigError(f"fusion_weight must be a number from 0 to 1 or None, found {fusion_weight!r}")
        self.fusion_weight = None if fusion_weight is None else float(fusion_weight)
        self.meta_fields_to_embed = check_meta_fields(meta_fields_to_embed)
        self.embedding_separator = check_separator(embedding_separator)
        self.batch_size = positive_int("batch_size", batch_size)
        self.device = check_device(device)
        self.token = check_token(token)
        self.precision: EncoderPrecision = check_encoder_precision(precision)
        if self.precision == "int8" and model_type == "cross_encoder":
            raise ConfigError("precision='int8' is for bi-encoders; a cross-encoder runs in 'fp32', 'bf16' or 'fp16'")
        self.revision = revision
        self.local_files_only = bool(local_files_only)
        self.trust_remote_code = bool(trust_remote_code)
        self._scorer = LazyModel(self._load)

    def _load(self) -> PairScorer:
        kwargs = loading_kwargs(self)
        if self.model_type == "bi_encoder":
            from sbert_plugins import SentenceEncoder

            return BiEncoderScorer(SentenceEncoder(self.model, precision=self.precision, **kwargs))
        from sbert_plugins.cross_encoder import CrossEncoder

        return CrossEncoder(self.model, precision=self.precision, **kwargs)  # type: ignore[arg-type]

    def warm_up(self) -> None:
        """Load the model (once: later calls, from any thread, return at once)."""
        self._scorer.get()

    @property
    def scorer(self) -> PairScorer:
        """The loaded pair scorer (a ``CrossEncoder`` or a ``BiEncoderScorer``), loaded on first access."""
        return self._scorer.get()

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return {
            "model": self.model,
            "model_type": self.model_type,
            "top_k": self.top_k,
            "score_threshold": self.score_threshold,
            "fusion_weight": self.fusion_weight,
            "meta_fields_to_embed": self.meta_fields_to_embed,
            "embedding_separator": self.embedding_separator,
            "batch_size": self.batch_size,
            "device": self.device,
            "token": self.token,
            "precision": self.precision,
            "revision": self.revision,
            "local_files_only": self.local_files_only,
            "trust_remote_code": self.trust_remote_code,
        }

    def score(self, query: str, documents: list[Document]) -> list[float]:
        """One score per document for ``query``, in input order (fused when ``fusion_weight`` is set)."""
        texts = document_texts(documents, self.meta_fields_to_embed, self.embedding_separator)
        scorer = self._scorer.get()
        pairs = [(query, text) for text in texts]
        with encoder_lock(scorer):  # one forward pass at a time per model, from any number of threads
            raw = scorer.predict(pairs, batch_size=self.batch_size)
        scores = scores_as_list(raw, len(pairs), scorer)
        if self.fusion_weight is None:
            return scores
        return fused_with_first_stage(_first_stage_scores(documents), scores, self.fusion_weight)

    @component.output_types(documents=list[Document])
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Re-rank ``documents`` for ``query``: ``{"documents": the best top_k copies, best first}``."""
        name = type(self).__name__
        check_query(query, name)
        checked = check_documents(documents, name)
        limit = self.top_k if top_k is None else positive_int("top_k", top_k)
        threshold = self.score_threshold if score_threshold is None else _check_threshold(score_threshold)
        if not checked:
            return {"documents": []}
        scores = self.score(query, checked)
        order = sorted(range(len(checked)), key=lambda index: -scores[index])[:limit]
        ranked = [replace(checked[index], score=scores[index]) for index in order]
        if threshold is not None:
            ranked = [doc for doc in ranked if doc.score is not None and doc.score >= threshold]
        return {"documents": ranked}

    @component.output_types(documents=list[Document])
    async def run_async(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
    ) -> dict[str, Any]:
        """:meth:`run` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.run, query, documents, top_k, score_threshold)


def _first_stage_scores(documents: list[Document]) -> list[float]:
    scores = []
    for index, document in enumerate(documents):
        if not isinstance(document.score, (int, float)) or not math.isfinite(document.score):
            raise ValueError(
                f"SBERTRanker: fusion_weight mixes in the retriever's scores, but documents[{index}] "
                f"(id {document.id!r}) has score {document.score!r}; put the ranker right after a retriever, "
                "or set fusion_weight=None"
            )
        scores.append(float(document.score))
    return scores


def _check_threshold(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"score_threshold must be a finite number or None, found {value!r}")
    return float(value)
