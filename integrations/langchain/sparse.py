"""SBERTSparseEmbeddings: the ingestor's sparse vectors (BM25 or a learned sparse model's) as a
``langchain_qdrant`` ``SparseEmbeddings``.

With it, LangChain's own ``QdrantVectorStore`` in ``RetrievalMode.HYBRID`` reads a collection written by
``QdrantIngestor`` / ``sbert-plugins ingest``: the same sparse vectors, scored by Qdrant (BM25 with the
collection's IDF; a learned model's dot product as it is), fused with the dense side by reciprocal rank fusion.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from integrations.learned_sparse import LearnedSparseEncoder, SparseTextEncoder
from sbert_plugins import sparse
from sbert_plugins.bm25 import BM25Config, BM25Encoder
from sbert_plugins.errors import ConfigError, missing_dependency

if TYPE_CHECKING:
    from sbert_plugins.sparse import SparseEncoder

try:
    from langchain_qdrant.sparse_embeddings import SparseEmbeddings, SparseVector
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise missing_dependency("langchain-qdrant", "qdrant") from exc


class SBERTSparseEmbeddings(SparseEmbeddings):
    """Sparse vectors of texts, exactly as the Qdrant ingestor stores and queries them: BM25, or a learned
    sparse model's (a :class:`~sbert_plugins.SparseEncoder`, e.g. SPLADE).

    Args:
        bm25: the BM25 parameters the collection was ingested with (default: the ingestor's default;
            a ``QdrantIngestor`` exposes its own as ``ingestor.bm25.config``).
        model: instead of BM25, a learned sparse model: a loaded ``SparseEncoder`` (shared as it is) or its
            name or folder (loaded on first use); documents use its document side, queries its query side.

    Pass it with the name of the ingestor's sparse vector (``ingestor.sparse_vector_name`` for BM25,
    ``ingestor.learned_sparse_vector_name`` for a learned model)::

        QdrantVectorStore(client=client, collection_name="docs", embedding=SBERTEmbeddings(...),
                          sparse_embedding=SBERTSparseEmbeddings(model="out/splade"),
                          sparse_vector_name=ingestor.learned_sparse_vector_name,
                          retrieval_mode=RetrievalMode.HYBRID)

    Raises:
        ConfigError: ``bm25`` is not a :class:`~sbert_plugins.bm25.BM25Config`; both ``bm25`` and ``model``;
            ``model`` is neither a ``SparseEncoder`` nor a name.
        MissingDependencyError: ``langchain-qdrant`` is not installed.
    """

    def __init__(self, bm25: BM25Config | None = None, *, model: SparseEncoder | str | Path | None = None) -> None:
        if bm25 is not None and not isinstance(bm25, BM25Config):
            raise ConfigError(f"bm25 must be a BM25Config, found {type(bm25).__name__}")
        if bm25 is not None and model is not None:
            raise ConfigError("pass bm25= (BM25 vectors) or model= (a learned sparse model), not both")
        self.bm25 = BM25Encoder(bm25)
        self.encoder: SparseTextEncoder = self.bm25 if model is None else LearnedSparseEncoder(model)

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        """The document-side vector of each text (BM25: term-frequency weights, the IDF is the collection's)."""
        if isinstance(texts, str):
            raise TypeError("embed_documents expects a list of strings, found a single str: use embed_query")
        return [_to_langchain(v) for v in self.encoder.encode_documents(list(texts))]

    def embed_query(self, text: str) -> SparseVector:
        """The query-side vector of ``text`` (BM25: 1.0 per distinct term)."""
        if not isinstance(text, str):
            raise TypeError(f"expected the query as a str, found {type(text).__name__}")
        return _to_langchain(self.encoder.encode_query(text))


def _to_langchain(vector: sparse.SparseVector) -> SparseVector:
    return SparseVector(indices=list(vector.indices), values=list(vector.values))
