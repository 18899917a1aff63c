"""Sparse Haystack embedders: the project's BM25 vectors (:mod:`integrations.bm25`) as ``SparseEmbedding``s.

These are the vectors :class:`~integrations.qdrant.QdrantIngestor` writes for hybrid collections:
term-frequency weights on the document side, 1.0 per distinct term on the query side, and the IDF
part left to the store. With ``QdrantDocumentStore(use_sparse_embeddings=True, sparse_idf=True)``
the dot product Qdrant computes is the BM25 score, so ``QdrantSparseEmbeddingRetriever`` and
``QdrantHybridRetriever`` rank as the ingestor's ``search(mode="sparse" | "hybrid")`` does.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from haystack import Document, component
from haystack.dataclasses import SparseEmbedding
from pydantic import ValidationError

from integrations.bm25 import BM25Config, BM25Encoder, SparseVector
from integrations.haystack._common import (
    SerializableComponent,
    check_documents,
    check_meta_fields,
    check_query,
    check_separator,
    document_texts,
)
from sbert_plugins.errors import ConfigError


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


class _BM25Embedder(SerializableComponent):
    """The BM25 settings and their serialization, shared by the two sparse embedders."""

    def __init__(self, bm25: dict[str, Any] | None) -> None:
        self.bm25 = _bm25_config(bm25).model_dump()  # every field, so a saved pipeline pins them all
        self._encoder = BM25Encoder(BM25Config(**self.bm25))


@component
class SBERTSparseTextEmbedder(_BM25Embedder):
    """Turns a query into a BM25 ``SparseEmbedding`` (1.0 per distinct term), for Qdrant's sparse and
    hybrid retrievers.

    Args:
        bm25: :class:`~integrations.bm25.BM25Config` fields (``k1``, ``b``, ``avg_doc_length``,
            ``stopwords``, ``stem``); default: the ingestor's defaults. Use the same on both sides.

    ``run(text)`` returns ``{"sparse_embedding": SparseEmbedding}``. Raises ``ConfigError`` for
    unknown or invalid ``bm25`` settings and ``TypeError`` when ``text`` is not a string.
    Nothing to load: there is no ``warm_up``.
    """

    def __init__(self, *, bm25: dict[str, Any] | None = None) -> None:
        _BM25Embedder.__init__(self, bm25)  # the @component class is a copy: zero-argument super() fails

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return {"bm25": self.bm25}

    @component.output_types(sparse_embedding=SparseEmbedding)
    def run(self, text: str) -> dict[str, Any]:
        """``{"sparse_embedding": SparseEmbedding}`` of the query ``text``."""
        return {"sparse_embedding": _sparse(self._encoder.encode_query(check_query(text, type(self).__name__)))}

    @component.output_types(sparse_embedding=SparseEmbedding)
    async def run_async(self, text: str) -> dict[str, Any]:
        """:meth:`run` (pure Python and quick: it runs on the event loop)."""
        return self.run(text)


@component
class SBERTSparseDocumentEmbedder(_BM25Embedder):
    """Sets ``Document.sparse_embedding`` (BM25 term-frequency weights) on copies of documents.

    Args:
        bm25: as for :class:`SBERTSparseTextEmbedder`.
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
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
    ) -> None:
        _BM25Embedder.__init__(self, bm25)  # the @component class is a copy: zero-argument super() fails
        self.meta_fields_to_embed = check_meta_fields(meta_fields_to_embed)
        self.embedding_separator = check_separator(embedding_separator)

    def init_parameters(self) -> dict[str, Any]:
        """Every init parameter by name, as the component holds it."""
        return {
            "bm25": self.bm25,
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
