"""SBERTEmbeddings: a LangChain ``Embeddings`` backed by a :class:`~sbert_plugins.SentenceEncoder`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from integrations._encoder_lock import encoder_lock
from integrations.microbatch import MicroBatcher
from sbert_plugins import SentenceEncoder
from sbert_plugins.device import PrecisionSetting
from sbert_plugins.errors import ConfigError
from sbert_plugins.validation import check_texts

Kind = Literal["query", "document"]
Vectors = list[list[float]]


class SBERTEmbeddings(BaseModel, Embeddings):
    """LangChain embeddings from a Sentence-BERT model, loaded once, late, and shareable.

    Args:
        model_name: a model id or a local sentence-transformers folder (e.g. a fine-tuned model);
            default: all-MiniLM-L6-v2, which works offline through its packaged copy.
        model: an already built :class:`SentenceEncoder` to use instead of loading one; pass the same
            encoder to several adapters to share its weights. Excludes ``model_name``, ``device`` and
            ``precision``, which only apply to loading.
        device: where to load the model (``"cpu"``, ``"cuda:0"``, ...; default: the best available).
        precision: ``"fp32"`` (default), ``"bf16"``, ``"fp16"``, ``"int8"`` (CPU, ``[onnx]`` extra) or ``"auto"``
            (the fastest that keeps quality on this machine): see
            :class:`SentenceEncoder`.
        batch_size: at most this many texts per forward pass; default: the encoder's token-budget batching
            (texts sorted by length, each batch filled up to a token budget).
        normalize: scale embeddings to unit length (default ``False``: the model decides; all-MiniLM-L6-v2
            already ends with a Normalize module).
        query_prompt, document_prompt: text put before each query / document. Default: the model's
            saved ``"query"`` / ``"document"`` prompt, else its default prompt, else none, which is
            exactly what :meth:`SentenceEncoder.encode_queries` / ``encode_documents`` do. Pass ``""``
            for no prompt.
        truncate_dim: keep the first ``truncate_dim`` dimensions (Matryoshka models).
        show_progress: show a progress bar while encoding.

    Misspelt or unknown arguments raise ``pydantic.ValidationError``. The model is loaded on first use
    or by :meth:`warm_up`, not by the constructor. ``aembed_query`` / ``aembed_documents`` run the model
    in a worker thread and gather concurrent calls on one event loop into shared batches.

    Example:
        >>> embeddings = SBERTEmbeddings()
        >>> vector = embeddings.embed_query("What is a harp?")
        >>> len(vector) == embeddings.embedding_dim
        True
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model_name: str | Path | None = None
    model: SentenceEncoder | None = Field(default=None, exclude=True, repr=False)
    device: str | None = None
    precision: PrecisionSetting = "fp32"
    batch_size: int | None = Field(default=None, gt=0, strict=True)
    normalize: bool = False
    query_prompt: str | None = None
    document_prompt: str | None = None
    truncate_dim: int | None = Field(default=None, gt=0, strict=True)
    show_progress: bool = False

    _encoder: SentenceEncoder | None = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _batcher: MicroBatcher = PrivateAttr(default_factory=MicroBatcher)

    @model_validator(mode="after")
    def _check_model_source(self) -> SBERTEmbeddings:
        if self.model is not None:
            given = [name for name in ("model_name", "device") if getattr(self, name) is not None]
            given += ["precision"] if self.precision != "fp32" else []
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply when loading a model, but an already built `model` was "
                    "given: pass either `model` or the loading arguments, not both"
                )
            self._check_truncate_dim(self.model)
            self._encoder = self.model
        return self

    # ---- the model ------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the model now (idempotent; otherwise it loads on first use)."""
        self._get_encoder()

    @property
    def encoder(self) -> SentenceEncoder:
        """The :class:`SentenceEncoder` in use (loaded if needed), e.g. to share it with a reranker."""
        return self._get_encoder()

    @property
    def embedding_dim(self) -> int:
        """The length of every vector this returns, read from the model's configuration (no encoding)."""
        dim = self._get_encoder().embedding_dim
        return min(dim, self.truncate_dim) if self.truncate_dim else dim

    def prompt_for(self, kind: Kind) -> str:
        """The prompt put before texts of ``kind`` (``"query"`` or ``"document"``); ``""`` for none."""
        if kind not in ("query", "document"):
            raise ConfigError(f"kind must be 'query' or 'document', found {kind!r}")
        explicit = self.query_prompt if kind == "query" else self.document_prompt
        if explicit is not None:
            return explicit
        encoder = self._get_encoder()
        if kind in encoder.prompts:
            return encoder.prompts[kind]
        if encoder.default_prompt_name is not None:
            return encoder.prompts[encoder.default_prompt_name]
        return ""

    def _get_encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            with self._load_lock:  # two threads hitting first use load the model once
                if self._encoder is None:
                    encoder = SentenceEncoder(self.model_name, device=self.device, precision=self.precision)
                    encoder.eval()  # loaded for inference only
                    self._check_truncate_dim(encoder)
                    self._encoder = encoder
        return self._encoder

    def _check_truncate_dim(self, encoder: SentenceEncoder) -> None:
        if self.truncate_dim is not None and self.truncate_dim > encoder.embedding_dim:
            raise ConfigError(
                f"truncate_dim={self.truncate_dim} is larger than the model's dimension {encoder.embedding_dim}; "
                f"use a value from 1 to {encoder.embedding_dim}"
            )

    def _encode(self, kind: Kind, texts: list[str]) -> Vectors:
        encoder = self._get_encoder()
        prompt = self.prompt_for(kind)
        with encoder_lock(encoder):
            embeddings = encoder.encode(
                texts,
                batch_size=self.batch_size,
                prompt=prompt,
                normalize=self.normalize,
                truncate_dim=self.truncate_dim,
                show_progress=self.show_progress,
                task=kind,  # a Router model's query or document route
            )
        vectors: Vectors = embeddings.tolist()
        return vectors

    # ---- the Embeddings interface ---------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` as documents (with the document prompt); one vector per text, in order.

        Raises:
            TypeError: ``texts`` is not a sequence of strings (the message names the index at fault).
        """
        checked = _check_documents(texts)
        return self._encode("document", checked) if checked else []

    def embed_query(self, text: str) -> list[float]:
        """Embed ``text`` as a query (with the query prompt).

        Raises:
            TypeError: ``text`` is not a string.
        """
        return self._encode("query", [_check_query(text)])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """:meth:`embed_documents` without blocking the event loop, batched with concurrent calls."""
        checked = _check_documents(texts)
        if not checked:
            return []
        return list(await self._batcher.submit(("document", id(self)), checked, self._encode_documents))

    async def aembed_query(self, text: str) -> list[float]:
        """:meth:`embed_query` without blocking the event loop; concurrent calls share forward passes."""
        vectors = await self._batcher.submit(("query", id(self)), [_check_query(text)], self._encode_queries)
        return vectors[0]

    def _encode_queries(self, texts: list[str]) -> Vectors:
        return self._encode("query", texts)

    def _encode_documents(self, texts: list[str]) -> Vectors:
        return self._encode("document", texts)


def _check_documents(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed_documents expects a list of strings, found a single str: use embed_query")
    return check_texts(texts)


def _check_query(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected the query as a str, found {type(text).__name__}")
    return text
