"""The Haystack query pipeline of the stack ``finetune`` recorded beside a model, over a
``QdrantDocumentStore`` written with dense and BM25 sparse embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import Pipeline

from integrations.haystack.embedders import SBERTTextEmbedder
from integrations.haystack.ranker import SBERTRanker
from integrations.haystack.sparse import SBERTSparseTextEmbedder
from integrations.stack import qdrant_search, recorded_reranker, recorded_sparse_model, recorded_stack
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import missing_dependency


def stack_query_pipeline(
    model: str | Path,
    document_store: Any,
    *,
    top_k: int = 10,
    stack: bool = True,
    meta_fields_to_embed: list[str] | None = None,
    embedding_separator: str = "\n",
) -> Pipeline:
    """A query pipeline that runs the stack recorded in ``model``'s folder: the query embedders its first stage
    needs (``embedder``: dense, ``sparse_embedder``: BM25 or the learned sparse model), Qdrant's embedding,
    sparse or hybrid retriever (``retriever``), and with a recorded re-ranker an :class:`SBERTRanker`
    (``ranker``) that mixes it with the bi-encoder at the recorded weight over the candidates it was tuned on.

    Run it with :func:`stack_query_inputs`: ``pipeline.run(stack_query_inputs(pipeline, question))``; the answer
    is the last component's ``documents``. The pipeline serialises (``dumps`` / ``loads`` with
    ``ALLOWED_MODULES``) like any other.

    Args:
        model: the folder ``finetune`` wrote (the bi-encoder and its ``stack.json``).
        document_store: a ``QdrantDocumentStore`` (with ``use_sparse_embeddings=True``, and ``sparse_idf=True``
            for BM25 stacks) whose documents were embedded by this model and ``SBERTSparseDocumentEmbedder``
            (``model=`` the recorded learned sparse model for learned sparse stacks).
        top_k: documents per query.
        stack: ``False`` ignores the record: dense retrieval with the bi-encoder.
        meta_fields_to_embed, embedding_separator: as the documents were embedded (for the ranker's texts).

    Raises:
        ConfigError: the record is damaged, names a model whose fingerprint changed since, or a first stage
            this store cannot serve.
        MissingDependencyError: ``qdrant-haystack`` is not installed.
    """
    try:
        from haystack_integrations.components.retrievers.qdrant import (
            QdrantEmbeddingRetriever,
            QdrantHybridRetriever,
            QdrantSparseEmbeddingRetriever,
        )
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise missing_dependency("qdrant-haystack", "haystack") from exc

    record = recorded_stack(model, SentenceEncoder(str(model))) if stack else None
    mode, sparse = qdrant_search(record) if record is not None else ("dense", None)
    reranker = recorded_reranker(record, model) if record is not None else None
    fetch = max(record.candidates, top_k) if record is not None and reranker is not None else top_k
    pipeline = Pipeline()
    if mode != "sparse":
        pipeline.add_component("embedder", SBERTTextEmbedder(model=str(model)))
    if record is not None and sparse == "bm25":
        pipeline.add_component("sparse_embedder", SBERTSparseTextEmbedder(bm25=record.bm25))
    elif record is not None and sparse == "learned":
        recorded_sparse_model(record, model)  # the fingerprint check
        pipeline.add_component("sparse_embedder", SBERTSparseTextEmbedder(model=str(record.sparse_path(model))))
    retrievers = {
        "dense": QdrantEmbeddingRetriever,
        "sparse": QdrantSparseEmbeddingRetriever,
        "hybrid": QdrantHybridRetriever,
    }
    pipeline.add_component("retriever", retrievers[mode](document_store=document_store, top_k=fetch))
    if mode != "sparse":
        pipeline.connect("embedder.embedding", "retriever.query_embedding")
    if mode != "dense":
        pipeline.connect("sparse_embedder.sparse_embedding", "retriever.query_sparse_embedding")
    if record is not None and reranker is not None:
        ranker = SBERTRanker(
            model=str(record.reranker_path(model)),
            top_k=top_k,
            fusion_weight=record.fusion_weight,
            first_stage_model=str(model),
            meta_fields_to_embed=meta_fields_to_embed,
            embedding_separator=embedding_separator,
        )
        pipeline.add_component("ranker", ranker)
        pipeline.connect("retriever.documents", "ranker.documents")
    return pipeline


def stack_query_inputs(pipeline: Pipeline, question: str) -> dict[str, Any]:
    """The flat inputs of a :func:`stack_query_pipeline` for ``question``: ``text`` for its embedders, and
    ``query`` for its ranker when it has one (Haystack warns about inputs no component takes)."""
    return {"text": question, **({"query": question} if "ranker" in pipeline.graph.nodes else {})}
