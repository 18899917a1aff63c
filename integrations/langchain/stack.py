"""The retriever of the stack ``finetune`` recorded beside a model, over a Qdrant collection the ingestor wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.retrievers import BaseRetriever

from integrations.langchain.embeddings import SBERTEmbeddings
from integrations.langchain.rerank import RerankingRetriever, SBERTReranker
from integrations.qdrant_points import LEARNED_SPARSE_VECTOR_NAME, SPARSE_VECTOR_NAME
from integrations.stack import qdrant_search, recorded_reranker, recorded_sparse_model, recorded_stack
from sbert_plugins.bm25 import BM25Config
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import missing_dependency

_RETRIEVAL_MODES = {"dense": "DENSE", "sparse": "SPARSE", "hybrid": "HYBRID"}


def stack_retriever(
    model: str | Path,
    *,
    client: Any,
    collection_name: str,
    k: int = 4,
    stack: bool = True,
    encoder: SentenceEncoder | None = None,
    sparse_vector_name: str = SPARSE_VECTOR_NAME,
    learned_sparse_vector_name: str = LEARNED_SPARSE_VECTOR_NAME,
) -> BaseRetriever:
    """A LangChain retriever over a Qdrant collection that runs the stack recorded in ``model``'s folder.

    The first stage is ``langchain_qdrant.QdrantVectorStore`` in the recorded mode (dense, sparse: BM25 or the
    recorded learned sparse model, or hybrid by Qdrant's reciprocal rank fusion); with a recorded re-ranker, a
    :class:`RerankingRetriever` fetches the candidates it was tuned over and mixes its scores with the
    bi-encoder's at the recorded weight.

    Args:
        model: the folder ``finetune`` wrote (the bi-encoder and its ``stack.json``).
        client: a ``qdrant_client.QdrantClient`` holding ``collection_name`` (written by
            :class:`~integrations.qdrant.QdrantIngestor`, with ``hybrid=True`` for BM25 stacks and
            ``sparse_model=`` the recorded learned sparse model for learned sparse ones).
        collection_name: the collection.
        k: documents per query.
        stack: ``False`` ignores the record: dense retrieval with the bi-encoder.
        encoder: the bi-encoder already loaded from ``model`` (default: loaded here).
        sparse_vector_name, learned_sparse_vector_name: the collection's BM25 and learned sparse vector names.

    Returns:
        the retriever (``invoke(query)`` gives ``k`` Documents, best first).

    Raises:
        ConfigError: the record is damaged or names a model whose fingerprint changed since (re-trained), or
            a first stage this collection cannot serve.
        MissingDependencyError: ``langchain-qdrant`` is not installed.
    """
    try:
        from langchain_qdrant import QdrantVectorStore, RetrievalMode
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise missing_dependency("langchain-qdrant", "qdrant") from exc
    from integrations.langchain.sparse import SBERTSparseEmbeddings

    encoder = encoder if encoder is not None else SentenceEncoder(str(model))
    record = recorded_stack(model, encoder) if stack else None
    mode, sparse = qdrant_search(record) if record is not None else ("dense", None)
    options: dict[str, Any] = {}
    if record is not None and sparse == "bm25":
        bm25 = BM25Config(**record.bm25) if record.bm25 else None
        options = {"sparse_embedding": SBERTSparseEmbeddings(bm25), "sparse_vector_name": sparse_vector_name}
    elif record is not None and sparse == "learned":
        learned = SBERTSparseEmbeddings(model=recorded_sparse_model(record, model))
        options = {"sparse_embedding": learned, "sparse_vector_name": learned_sparse_vector_name}
    store = QdrantVectorStore(
        client=client,
        collection_name=collection_name,
        embedding=SBERTEmbeddings(model=encoder),
        retrieval_mode=getattr(RetrievalMode, _RETRIEVAL_MODES[mode]),
        **options,
    )
    reranker = recorded_reranker(record, model) if record is not None else None
    if record is None or reranker is None:
        return store.as_retriever(search_kwargs={"k": k})
    fetch = max(record.candidates, k)
    return RerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": fetch}),
        reranker=SBERTReranker(model=reranker, encoder=encoder, fusion_weight=record.fusion_weight, top_n=k),
        fetch_k=fetch,
        k=k,
    )
