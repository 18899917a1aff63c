"""SBERTSparseEmbeddings: the ingestor's BM25 sparse vectors as a ``langchain_qdrant`` ``SparseEmbeddings``.

With it, LangChain's own ``QdrantVectorStore`` in ``RetrievalMode.HYBRID`` reads a collection written by
``QdrantIngestor(hybrid=True)`` / ``sbert-plugins ingest --hybrid``: the same BM25 vectors, scored by Qdrant
with the collection's IDF, fused with the dense side by reciprocal rank fusion.
"""

from __future__ import annotations

from integrations.bm25 import BM25Config, BM25Encoder
from sbert_plugins.errors import ConfigError, missing_dependency

try:
    from langchain_qdrant.sparse_embeddings import SparseEmbeddings, SparseVector
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise missing_dependency("langchain-qdrant", "qdrant") from exc


class SBERTSparseEmbeddings(SparseEmbeddings):
    """BM25 sparse vectors of texts, exactly as the Qdrant ingestor stores and queries them.

    Args:
        bm25: the BM25 parameters the collection was ingested with (default: the ingestor's default;
            a ``QdrantIngestor`` exposes its own as ``ingestor.bm25.config``).

    Pass it with the ingestor's ``sparse_vector_name``::

        QdrantVectorStore(client=client, collection_name="docs", embedding=SBERTEmbeddings(...),
                          sparse_embedding=SBERTSparseEmbeddings(), sparse_vector_name=ingestor.sparse_vector_name,
                          retrieval_mode=RetrievalMode.HYBRID)

    Raises:
        ConfigError: ``bm25`` is not a :class:`~integrations.bm25.BM25Config`.
        MissingDependencyError: ``langchain-qdrant`` is not installed.
    """

    def __init__(self, bm25: BM25Config | None = None) -> None:
        if bm25 is not None and not isinstance(bm25, BM25Config):
            raise ConfigError(f"bm25 must be a BM25Config, found {type(bm25).__name__}")
        self.bm25 = BM25Encoder(bm25)

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        """The document-side BM25 vector of each text (term-frequency weights; the IDF is the collection's)."""
        if isinstance(texts, str):
            raise TypeError("embed_documents expects a list of strings, found a single str: use embed_query")
        return [SparseVector(indices=v.indices, values=v.values) for v in self.bm25.encode_documents(list(texts))]

    def embed_query(self, text: str) -> SparseVector:
        """The query-side BM25 vector of ``text`` (1.0 per distinct term)."""
        if not isinstance(text, str):
            raise TypeError(f"expected the query as a str, found {type(text).__name__}")
        vector = self.bm25.encode_query(text)
        return SparseVector(indices=vector.indices, values=vector.values)
