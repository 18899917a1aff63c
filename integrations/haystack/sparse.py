"""Sparse Haystack embedders: the project's BM25 vectors (:mod:`sbert_plugins.bm25`) or a learned sparse
model's (:mod:`integrations.learned_sparse`, a ``SparseEncoder`` such as SPLADE) as ``SparseEmbedding``s.

These are the vectors :class:`~integrations.qdrant.QdrantIngestor` writes. BM25: term-frequency weights
on the document side, 1.0 per distinct term on the query side, and the IDF part left to the store, so
use ``QdrantDocumentStore(use_sparse_embeddings=True, sparse_idf=True)``. A learned model's vectors are
the whole score: use ``sparse_idf=False``. Either way the dot product Qdrant computes is the ingestor's
sparse score, so ``QdrantSparseEmbeddingRetriever`` and ``QdrantHybridRetriever`` rank as the ingestor's
``search(mode="sparse" | "hybrid")`` does.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from haystack import Document, component
from haystack.dataclasses import SparseEmbedding
from haystack.utils import ComponentDevice
from pydantic import ValidationError

from integrations.haystack._common import (
    SerializableComponent,
    check_device,
    check_documents,
    check_meta_fields,
    check_query,
    check_separator,
    document_texts,
)
from integrations.learned_sparse import LearnedSparseEncoder, SparseTextEncoder
from sbert_plugins.bm25 import BM25Config, BM25Encoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse.rows import SparseVector


def _bm25_config(settings: Any) -> BM25Config:
    if settings is None:
        return BM25Config()
    if not isinstance(settings, dict):
        raise ConfigError(f"bm25 must be a dict of BM25Config fields or None, found {type(settings).__name__}")
    try:
        return BM25Config(**settings)
    except ValidationError as exc:
        raise ConfigError(f"bm25 settings {settings!r} are invalid: {exc}") from exc


def _sparse(vector: SparseVector) -> SparseEmbedding:
    return SparseEmbedding(indices=list(vector.indices), values=list(vector.values))


class _SparseEmbedder(SerializableComponent):
    """The settings (BM25 or a learned sparse model) and their serialization, shared by the two sparse embedders."""

    def __init__(self, bm25: dict[str, Any] | None, model: Any, device: ComponentDevice | None) -> None:
        if model is not None and bm25 is not None:
            raise ConfigError("pass bm25= (BM25 vectors) or model= (a learned sparse model), not both")
        self.device = check_device(device)
        self._encoder: SparseTextEncoder
        if model is None:
            self.bm25: dict[str, Any] | None = _bm25_config(
                bm25
            ).model_dump()  # every field: a saved pipeline pins them
            self.model: str | None = None
            self._encoder = BM25Encoder(BM25Config(**self.bm25))
        else:
            torch_device = self.device.to_torch_str() if self.device is not None else None
            learned = LearnedSparseEncoder(
                model if not hasattr(model, "__fspath__") else str(model), device=torch_device
            )
            self.bm25, self.model, self._encoder = None, learned.name, learned

    def warm_up(self) -> None:
        """Load the learned sparse model (once; nothing to load for BM25)."""
        if isinstance(self._encoder, LearnedSparseEncoder):
            self._encoder.model  # noqa: B018 (loading is the point)

    def _settings(self) -> dict[str, Any]:
        if self.model is not None and self.model.startswith("<"):
            raise ConfigError(
                f"{type(self).__name__} holds a SparseEncoder built in code, which a saved pipeline cannot name: "
                "save it (encoder.save(folder)) and pass model=folder"
            )
        return {"bm25": self.bm25, "model": self.model, "device": self.device}


@component
class SBERTSparseTextEmbedder(_SparseEmbedder):
    """Turns a query into a sparse ``SparseEmbedding`` for Qdrant's sparse and hybrid retrievers: BM25
    (1.0 per distinct term) or a learned sparse model's query vector.

    Args:
        bm25: :class:`~sbert_plugins.bm25.BM25Config` fields (``k1``, ``b``, ``avg_doc_length``,
            ``stopwords``, ``stem``); default: the ingestor's defaults. Use the same on both sides.
        model: instead of BM25, a learned sparse model: a ``SparseEncoder`` folder or name (loaded by
            ``warm_up`` or on first use), or a loaded ``SparseEncoder`` (saved pipelines record its source).
        device: where a learned model is loaded.

    ``run(text)`` returns ``{"sparse_embedding": SparseEmbedding}``. Raises ``ConfigError`` for
    unknown or invalid ``bm25`` settings or both ``bm25`` and ``model``, and ``TypeError`` when ``text``
    is not a string.
    """

    def __init__(
        self, *, bm25: dict[str, Any] | None = None, model: Any = None, device: ComponentDevice | None = None
    ) -> None:
        _SparseEmbedder.__init__(self, bm25, model, device)  # the @component class is a copy: no zero-argument super()

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return self._settings()

    @component.output_types(sparse_embedding=SparseEmbedding)
    def run(self, text: str) -> dict[str, Any]:
        """``{"sparse_embedding": SparseEmbedding}`` of the query ``text``."""
        return {"sparse_embedding": _sparse(self._encoder.encode_query(check_query(text, type(self).__name__)))}

    @component.output_types(sparse_embedding=SparseEmbedding)
    async def run_async(self, text: str) -> dict[str, Any]:
        """:meth:`run` (in a worker thread for a learned model, so the event loop keeps running)."""
        return await asyncio.to_thread(self.run, text)


@component
class SBERTSparseDocumentEmbedder(_SparseEmbedder):
    """Sets ``Document.sparse_embedding`` (BM25 term-frequency weights, or a learned sparse model's document
    vector) on copies of documents.

    Args:
        bm25, model, device: as for :class:`SBERTSparseTextEmbedder`.
        meta_fields_to_embed: metadata keys whose values come before the content (e.g. ``["title"]``).
        embedding_separator: joins those values and the content (default ``"\\n"``).

    ``run(documents)`` returns ``{"documents": [...]}``: copies in input order, the caller's
    documents unchanged. Raises ``TypeError`` when ``documents`` is not a list of Documents and
    ``ValueError`` for a document without text content.
    """

    def __init__(
        self,
        *,
        bm25: dict[str, Any] | None = None,
        model: Any = None,
        device: ComponentDevice | None = None,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
    ) -> None:
        _SparseEmbedder.__init__(self, bm25, model, device)  # the @component class is a copy: no zero-argument super()
        self.meta_fields_to_embed = check_meta_fields(meta_fields_to_embed)
        self.embedding_separator = check_separator(embedding_separator)

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return {
            **self._settings(),
            "meta_fields_to_embed": self.meta_fields_to_embed,
            "embedding_separator": self.embedding_separator,
        }

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """``{"documents": copies with .sparse_embedding set}``, in input order."""
        checked = check_documents(documents, type(self).__name__)
        texts = document_texts(checked, self.meta_fields_to_embed, self.embedding_separator)
        vectors = self._encoder.encode_documents(texts)
        return {
            "documents": [
                replace(doc, sparse_embedding=_sparse(vector)) for doc, vector in zip(checked, vectors, strict=True)
            ]
        }

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """:meth:`run` in a worker thread, so the event loop keeps running on large batches."""
        return await asyncio.to_thread(self.run, documents)
