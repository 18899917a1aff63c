"""Dense Haystack embedders: SBERTTextEmbedder (queries) and SBERTDocumentEmbedder (documents)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import numpy as np
from haystack import Document, component
from haystack.utils import ComponentDevice, Secret

from integrations._encoder_lock import encoder_lock
from integrations.haystack._common import (
    DEFAULT_TOKEN,
    LazyModel,
    SerializableComponent,
    check_device,
    check_documents,
    check_meta_fields,
    check_model_name,
    check_optional_positive,
    check_query,
    check_separator,
    check_token,
    document_texts,
    loading_kwargs,
)
from sbert_plugins import SentenceEncoder
from sbert_plugins.device import PrecisionSetting, check_encoder_precision
from sbert_plugins.errors import ConfigError
from sbert_plugins.loading import DEFAULT_MODEL


class _DenseEmbedder(SerializableComponent):
    """Settings, model loading and serialization shared by the two dense embedders (the text
    embedder's init parameters are these)."""

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        device: ComponentDevice | None = None,
        token: Secret | None = DEFAULT_TOKEN,
        precision: PrecisionSetting = "fp32",
        batch_size: int | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        prompt: str | None = None,
        progress_bar: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        self.model = check_model_name(model)
        self.device = check_device(device)
        self.token = check_token(token)
        self.precision: PrecisionSetting = check_encoder_precision(precision)
        self.batch_size = check_optional_positive("batch_size", batch_size)
        self.normalize_embeddings = bool(normalize_embeddings)
        self.truncate_dim = check_optional_positive("truncate_dim", truncate_dim)
        if prompt is not None and not isinstance(prompt, str):
            raise ConfigError(f"prompt must be a string or None, found {type(prompt).__name__}")
        self.prompt = prompt
        self.progress_bar = bool(progress_bar)
        self.revision = revision
        self.local_files_only = bool(local_files_only)
        self.trust_remote_code = bool(trust_remote_code)
        self._encoder = LazyModel(self._load)

    def _load(self) -> SentenceEncoder:
        return SentenceEncoder(
            self.model, precision=self.precision, truncate_dim=self.truncate_dim, **loading_kwargs(self)
        )

    def warm_up(self) -> None:
        """Load the model (once: later calls, from any thread, return at once)."""
        self._encoder.get()

    @property
    def encoder(self) -> SentenceEncoder:
        """The :class:`SentenceEncoder` in use, loaded on first access."""
        return self._encoder.get()

    def _encode(self, texts: list[str], *, documents: bool) -> np.ndarray:
        encoder = self._encoder.get()
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "normalize": self.normalize_embeddings,
            "show_progress": None if self.progress_bar else False,
        }
        if self.prompt is not None:
            options["prompt"] = self.prompt
        with encoder_lock(encoder):
            if documents:
                return encoder.encode_documents(texts, **options)  # type: ignore[no-any-return]
            return encoder.encode_queries(texts, **options)  # type: ignore[no-any-return]

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return {
            "model": self.model,
            "device": self.device,
            "token": self.token,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "normalize_embeddings": self.normalize_embeddings,
            "truncate_dim": self.truncate_dim,
            "prompt": self.prompt,
            "progress_bar": self.progress_bar,
            "revision": self.revision,
            "local_files_only": self.local_files_only,
            "trust_remote_code": self.trust_remote_code,
        }


@component
class SBERTTextEmbedder(_DenseEmbedder):
    """Embeds a query string with a Sentence-BERT model (e.g. one fine-tuned by ``sbert-plugins finetune``).

    Args:
        model: a model id or a local sentence-transformers folder; default all-MiniLM-L6-v2, which
            works offline through its packaged copy.
        device: a single haystack ``ComponentDevice``; default: the best available (cuda, mps, cpu).
        token: a Hugging Face token as a ``Secret`` (read from ``HF_API_TOKEN`` / ``HF_TOKEN`` by default).
        precision: ``"fp32"`` (default), ``"bf16"``, ``"fp16"``, ``"int8"`` (CPU, ``[onnx]`` extra) or ``"auto"``
            (the fastest that keeps quality on this machine, see :class:`~sbert_plugins.SentenceEncoder`).
        batch_size: at most this many texts per forward pass; the encoder's token budget decides below it.
        normalize_embeddings: scale embeddings to unit length.
        truncate_dim: keep the first ``truncate_dim`` dimensions (Matryoshka models).
        prompt: text put before the query; default: the model's saved ``"query"`` prompt (if any),
            exactly what ``SentenceEncoder.encode_queries`` does. ``""`` for none.
        progress_bar: show a progress bar on long inputs.
        revision, local_files_only, trust_remote_code: how to load from the Hugging Face Hub.

    ``run(text)`` returns ``{"embedding": list[float]}``. Raises ``ConfigError`` on invalid settings
    and ``TypeError`` when ``text`` is not a string.
    """

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        """Embed ``text`` as a query: ``{"embedding": list[float]}``."""
        checked = check_query(text, type(self).__name__)
        return {"embedding": self._encode([checked], documents=False)[0].tolist()}

    @component.output_types(embedding=list[float])
    async def run_async(self, text: str) -> dict[str, Any]:
        """:meth:`run` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.run, text)


@component
class SBERTDocumentEmbedder(_DenseEmbedder):
    """Sets ``Document.embedding`` on copies of documents, with a Sentence-BERT model.

    Args:
        meta_fields_to_embed: metadata keys whose values are embedded before the content (e.g. ``["title"]``).
        embedding_separator: joins those values and the content (default ``"\\n"``).
        prompt: text put before each document; default: the model's saved ``"document"`` prompt (if
            any), exactly what ``SentenceEncoder.encode_documents`` does. ``""`` for none.
        progress_bar: show a progress bar on long inputs (the encoder's rule: thousands of documents).
        the rest: as for :class:`SBERTTextEmbedder`.

    Texts are sorted by token length and batched by the encoder's token budget (``batch_size``
    only caps the texts per batch). ``run(documents)`` returns ``{"documents": [...]}``: copies in
    input order, the caller's documents unchanged. Raises ``TypeError`` when ``documents`` is not
    a list of Documents (a ``str`` included) and ``ValueError`` for a document without text content.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        device: ComponentDevice | None = None,
        token: Secret | None = DEFAULT_TOKEN,
        precision: PrecisionSetting = "fp32",
        batch_size: int | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        prompt: str | None = None,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        progress_bar: bool = True,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        _DenseEmbedder.__init__(
            self,
            model=model,
            device=device,
            token=token,
            precision=precision,
            batch_size=batch_size,
            normalize_embeddings=normalize_embeddings,
            truncate_dim=truncate_dim,
            prompt=prompt,
            progress_bar=progress_bar,
            revision=revision,
            local_files_only=local_files_only,
            trust_remote_code=trust_remote_code,
        )
        self.meta_fields_to_embed = check_meta_fields(meta_fields_to_embed)
        self.embedding_separator = check_separator(embedding_separator)

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return {
            **_DenseEmbedder.init_parameters(self),  # no zero-argument super() in a @component class
            "meta_fields_to_embed": self.meta_fields_to_embed,
            "embedding_separator": self.embedding_separator,
        }

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed ``documents``: ``{"documents": copies with .embedding set}``, in input order."""
        checked = check_documents(documents, type(self).__name__)
        if not checked:
            return {"documents": []}
        texts = document_texts(checked, self.meta_fields_to_embed, self.embedding_separator)
        vectors = self._encode(texts, documents=True).tolist()
        return {"documents": [replace(doc, embedding=vector) for doc, vector in zip(checked, vectors, strict=True)]}

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """:meth:`run` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.run, documents)
