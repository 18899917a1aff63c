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
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder, fuse_scores
from sbert_plugins.cross_encoder.fusion import first_stage_scores, reranker_scores
from sbert_plugins.cross_encoder.fusion_record import applied_fusion_weight
from sbert_plugins.device import PrecisionSetting, check_encoder_precision
from sbert_plugins.errors import ConfigError

ModelType = Literal["cross_encoder", "bi_encoder"]


def fused_scores(
    reranker: PairScorer, first_stage: SentenceEncoder, query: str, texts: list[str], weight: float, batch_size: int
) -> list[float]:
    """The project's one fusion rule (:mod:`sbert_plugins.cross_encoder.fusion`) for one query's candidates:
    the re-ranker's logits and the first-stage bi-encoder's similarity, each standardised, then mixed."""
    pairs = [(query, text) for text in texts]
    with encoder_lock(reranker):
        logits = scores_as_list(reranker_scores(reranker, pairs, batch_size=batch_size), len(pairs), reranker)
    with encoder_lock(first_stage):
        similarity = first_stage_scores(first_stage, query, texts, batch_size=batch_size)
    return [float(x) for x in fuse_scores(similarity, logits, weight)]


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
            (:func:`sbert_plugins.cross_encoder.fuse_scores`): this share of the cross-encoder's logit plus the
            rest of the ``first_stage_model``'s similarity, each standardised over the candidates.
            ``"recorded"``: the weight ``finetune --reranker-output`` saved in the cross-encoder's folder,
            refused when ``first_stage_model`` is not the bi-encoder it was tuned with. A number given here is
            used as is (a warning when the folder records another pairing).
        first_stage_model: the bi-encoder (folder or id) whose similarity is mixed in; needed with
            ``fusion_weight`` (usually the model of the embedders before the retriever).
        meta_fields_to_embed, embedding_separator: metadata values read before the content.
        batch_size: pairs (or, for a bi-encoder, texts at most) per forward pass.
        device, token, precision, revision, local_files_only, trust_remote_code: how to load the model;
            ``precision`` is ``"fp32"``, ``"bf16"`` or ``"fp16"`` (and ``"int8"`` or ``"auto"`` for a bi-encoder).

    ``run(query, documents, top_k=None, score_threshold=None)`` returns ``{"documents": [...]}``, best
    first (ties keep input order); the caller's documents are unchanged. Raises ``ConfigError`` on
    invalid settings, ``TypeError`` for a non-string query or non-Document input, ``ValueError`` for a
    document without content.
    """

    def __init__(
        self,
        *,
        model: str,
        model_type: ModelType = "cross_encoder",
        top_k: int = 10,
        score_threshold: float | None = None,
        fusion_weight: float | Literal["recorded"] | None = None,
        first_stage_model: str | None = None,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        batch_size: int = 32,
        device: ComponentDevice | None = None,
        token: Secret | None = DEFAULT_TOKEN,
        precision: PrecisionSetting = "fp32",
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
        if fusion_weight not in (None, "recorded") and (
            isinstance(fusion_weight, bool)
            or not isinstance(fusion_weight, (int, float))
            or not 0 <= fusion_weight <= 1
        ):
            raise ConfigError(
                f"fusion_weight must be a number from 0 to 1, 'recorded' or None, found {fusion_weight!r}"
            )
        self.fusion_weight: float | Literal["recorded"] | None = (
            fusion_weight if fusion_weight in (None, "recorded") else float(fusion_weight)  # type: ignore[arg-type]
        )
        self.first_stage_model = None if first_stage_model is None else check_model_name(first_stage_model)
        if self.fusion_weight is not None and (self.first_stage_model is None or model_type != "cross_encoder"):
            raise ConfigError(
                "fusion_weight mixes a cross-encoder's scores with a bi-encoder's: pass model_type='cross_encoder' "
                "and first_stage_model= (the bi-encoder the weight was tuned with; no model is loaded unasked)"
            )
        if self.first_stage_model is not None and self.fusion_weight is None:
            raise ConfigError("first_stage_model is only read for fusion: pass fusion_weight too, or leave it out")
        self.meta_fields_to_embed = check_meta_fields(meta_fields_to_embed)
        self.embedding_separator = check_separator(embedding_separator)
        self.batch_size = positive_int("batch_size", batch_size)
        self.device = check_device(device)
        self.token = check_token(token)
        self.precision: PrecisionSetting = check_encoder_precision(precision)
        if self.precision in ("int8", "auto") and model_type == "cross_encoder":
            raise ConfigError(
                f"precision={self.precision!r} is for bi-encoders; a cross-encoder runs in 'fp32', 'bf16' or 'fp16'"
            )
        self.revision = revision
        self.local_files_only = bool(local_files_only)
        self.trust_remote_code = bool(trust_remote_code)
        self._scorer = LazyModel(self._load)
        self._first_stage = LazyModel(self._load_first_stage)
        self._weight = LazyModel(self._applied_weight)

    def _load(self) -> PairScorer:
        kwargs = loading_kwargs(self)
        if self.model_type == "bi_encoder":
            return BiEncoderScorer(SentenceEncoder(self.model, precision=self.precision, **kwargs))
        return CrossEncoder(self.model, precision=self.precision, **kwargs)  # type: ignore[arg-type]

    def _load_first_stage(self) -> SentenceEncoder:
        if self.first_stage_model is None:
            raise ConfigError("SBERTRanker has no first_stage_model to load")
        return SentenceEncoder(self.first_stage_model, precision=self.precision, **loading_kwargs(self))

    def _applied_weight(self) -> float:
        """The fusion weight, checked against the record in the cross-encoder's folder (if it has one)."""
        scorer = self._scorer.get()
        weight = applied_fusion_weight(
            self.fusion_weight,
            self.model,
            first_stage_fingerprint=self._first_stage.get().fingerprint,
            reranker_fingerprint=scorer.fingerprint if isinstance(scorer, CrossEncoder) else None,
        )
        if weight is None:  # "recorded", and the folder has no record
            raise ConfigError(
                f"fusion_weight='recorded', but {self.model} holds no fusion record (written by "
                "sbert-plugins finetune --reranker-output): pass a weight, or fusion_weight=None"
            )
        return weight

    def warm_up(self) -> None:
        """Load the model(s) (once: later calls, from any thread, return at once)."""
        self._scorer.get()
        if self.first_stage_model is not None:
            self._first_stage.get()
            self._weight.get()

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
            "first_stage_model": self.first_stage_model,
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
        if self.fusion_weight is not None:
            first_stage = self._first_stage.get()
            return fused_scores(scorer, first_stage, query, texts, self._weight.get(), self.batch_size)
        pairs = [(query, text) for text in texts]
        with encoder_lock(scorer):  # one forward pass at a time per model, from any number of threads
            raw = scorer.predict(pairs, batch_size=self.batch_size)
        return scores_as_list(raw, len(pairs), scorer)

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


def _check_threshold(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"score_threshold must be a finite number or None, found {value!r}")
    return float(value)
