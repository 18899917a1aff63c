"""LangChain adapters: embeddings, a re-ranking document compressor and a re-ranking retriever.

Example::

    from integrations.langchain import RerankingRetriever, SBERTEmbeddings, SBERTReranker

    embeddings = SBERTEmbeddings()                      # all-MiniLM-L6-v2, offline, loaded on first use
    store = InMemoryVectorStore.from_texts(texts, embeddings)
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(),
        reranker=SBERTReranker(encoder=embeddings.encoder),  # or model="path/to/cross-encoder"
        fetch_k=20,
        k=4,
    )
    docs = retriever.invoke("what is a harp?")          # metadata["relevance_score"] on each

Needs ``langchain-core``: ``pip install "sbert-plugins[langchain]"``. ``SBERTSparseEmbeddings`` (BM25 or learned
sparse vectors for ``langchain_qdrant.QdrantVectorStore`` hybrid search) and ``stack_retriever`` (the retrieval
stack ``finetune`` recorded beside a model, over a Qdrant collection) also need ``langchain-qdrant`` and are
imported on first use.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sbert_plugins.errors import missing_dependency

if importlib.util.find_spec("langchain_core") is None:
    raise missing_dependency("langchain-core", "langchain")

from integrations.langchain.embeddings import SBERTEmbeddings
from integrations.langchain.rerank import RerankingRetriever, SBERTReranker
from integrations.scoring import BiEncoderScorer, PairScorer

__all__ = [
    "BiEncoderScorer",
    "PairScorer",
    "RerankingRetriever",
    "SBERTEmbeddings",
    "SBERTReranker",
    "SBERTSparseEmbeddings",
    "stack_retriever",
]


def __getattr__(name: str) -> Any:
    # langchain-qdrant is optional: the sparse adapter is imported when first asked for.
    if name == "SBERTSparseEmbeddings":
        from integrations.langchain.sparse import SBERTSparseEmbeddings

        return SBERTSparseEmbeddings
    if name == "stack_retriever":  # needs langchain-qdrant too
        from integrations.langchain.stack import stack_retriever

        return stack_retriever
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
