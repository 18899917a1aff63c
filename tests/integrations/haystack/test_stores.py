"""The components with real document stores: embedded Qdrant (dense, sparse, hybrid) and a Chroma server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter

from integrations.haystack import (
    ALLOWED_MODULES,
    SBERTDocumentEmbedder,
    SBERTRanker,
    SBERTSparseDocumentEmbedder,
    SBERTSparseTextEmbedder,
    SBERTTextEmbedder,
)
from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from tests.integrations.corpus import make_docs
from tests.integrations.haystack.conftest import make_documents

qdrant_store = pytest.importorskip("haystack_integrations.document_stores.qdrant")
qdrant_retrievers = pytest.importorskip("haystack_integrations.components.retrievers.qdrant")

CORPUS_SIZE = 40
# Qdrant's default prefetch depth, which QdrantHybridRetriever uses for each side before fusing.
HYBRID_PREFETCH = 10


def indexing_pipeline(model: str, store: object) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("dense", SBERTDocumentEmbedder(model=model, progress_bar=False))
    pipeline.add_component("sparse", SBERTSparseDocumentEmbedder())
    pipeline.add_component("writer", DocumentWriter(document_store=store))
    pipeline.connect("dense.documents", "sparse.documents")
    pipeline.connect("sparse.documents", "writer.documents")
    return pipeline


def hybrid_query_pipeline(model: str, reranker: str, store: object) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("dense", SBERTTextEmbedder(model=model))
    pipeline.add_component("sparse", SBERTSparseTextEmbedder())
    pipeline.add_component("retriever", qdrant_retrievers.QdrantHybridRetriever(document_store=store, top_k=8))
    pipeline.add_component("ranker", SBERTRanker(model=reranker, top_k=3))
    pipeline.connect("dense.embedding", "retriever.query_embedding")
    pipeline.connect("sparse.sparse_embedding", "retriever.query_sparse_embedding")
    pipeline.connect("retriever.documents", "ranker.documents")
    return pipeline


@pytest.fixture()
def ingested(tiny_encoder: SentenceEncoder) -> Iterator[QdrantIngestor]:
    """The same corpus written by the project's own ingestor (hybrid), to compare scores with."""
    ingestor = QdrantIngestor(tiny_encoder, "reference", path=":memory:", hybrid=True)
    ingestor.ingest(make_docs(CORPUS_SIZE), show_progress=False)
    yield ingestor
    ingestor.close()


def test_qdrant_embedded_dense_sparse_hybrid_match_the_ingestor(
    tiny_model_dir: Path, tiny_reranker_dir: Path, tmp_path: Path, ingested: QdrantIngestor
) -> None:
    model = str(tiny_model_dir)
    store_settings = {
        "path": str(tmp_path / "qdrant"),
        "index": "docs",
        "embedding_dim": 32,
        "similarity": "cosine",
        "use_sparse_embeddings": True,
        "sparse_idf": True,  # the IDF half of BM25 is the store's
        "progress_bar": False,
    }
    store = qdrant_store.QdrantDocumentStore(**store_settings)
    documents = [Document(id=d["id"], content=d["text"], meta=d["metadata"]) for d in make_docs(CORPUS_SIZE)]
    indexing = Pipeline.loads(indexing_pipeline(model, store).dumps(), allowed_modules=ALLOWED_MODULES)
    store.close()
    result = indexing.run({"dense": {"documents": documents}})
    assert result["writer"]["documents_written"] == CORPUS_SIZE
    indexing.get_component("writer").document_store.close()

    store = qdrant_store.QdrantDocumentStore(**store_settings)
    try:
        assert store.count_documents() == CORPUS_SIZE
        query = documents[11].content
        dense = qdrant_retrievers.QdrantEmbeddingRetriever(document_store=store, top_k=5)
        sparse = qdrant_retrievers.QdrantSparseEmbeddingRetriever(document_store=store, top_k=5)
        hybrid = qdrant_retrievers.QdrantHybridRetriever(document_store=store, top_k=5)
        query_embedding = SBERTTextEmbedder(model=model).run(query)["embedding"]
        query_sparse = SBERTSparseTextEmbedder().run(query)["sparse_embedding"]
        found = {
            "dense": dense.run(query_embedding=query_embedding)["documents"],
            "sparse": sparse.run(query_sparse_embedding=query_sparse)["documents"],
            "hybrid": hybrid.run(query_embedding=query_embedding, query_sparse_embedding=query_sparse)["documents"],
        }
        for mode, docs in found.items():
            assert docs[0].id == "doc-11", mode
        # The same vectors as the ingestor's: the same scores, document by document.
        for mode in ("dense", "sparse"):
            every_score = {h.id: h.score for h in ingested.search(query, k=CORPUS_SIZE, mode=mode)}
            assert [d.score for d in found[mode]] == pytest.approx(sorted(every_score.values())[::-1][:5], abs=1e-4)
            assert all(d.score == pytest.approx(every_score[d.id], abs=1e-4) for d in found[mode])
        # Hybrid fuses each side's top HYBRID_PREFETCH (tied BM25 scores may enter in either order).
        dense_top = {h.id for h in ingested.search(query, k=HYBRID_PREFETCH, mode="dense")}
        sparse_all = ingested.search(query, k=CORPUS_SIZE, mode="sparse")
        sparse_top = {h.id for h in sparse_all if h.score >= sparse_all[HYBRID_PREFETCH - 1].score - 1e-6}
        assert {d.id for d in found["hybrid"]} <= dense_top | sparse_top

    finally:
        store.close()  # embedded Qdrant: one client per folder at a time

    querying = Pipeline.loads(
        hybrid_query_pipeline(model, str(tiny_reranker_dir), store).dumps(), allowed_modules=ALLOWED_MODULES
    )
    try:
        answer = querying.run({"dense": {"text": query}, "sparse": {"text": query}, "ranker": {"query": query}})
    finally:
        querying.get_component("retriever")._document_store.close()  # no public accessor; frees the folder lock
    ranked = answer["ranker"]["documents"]
    assert len(ranked) == 3 and all(d.content for d in ranked)
    assert [d.score for d in ranked] == sorted((d.score for d in ranked), reverse=True)


def test_chroma_server_with_the_dense_embedders(tiny_model_dir: Path, chroma_url: str) -> None:
    chroma = pytest.importorskip("haystack_integrations.document_stores.chroma")
    chroma_retrievers = pytest.importorskip("haystack_integrations.components.retrievers.chroma")
    address = urlparse(chroma_url)
    store = chroma.ChromaDocumentStore(
        collection_name=f"haystack-{tmp_name(tiny_model_dir)}",
        host=address.hostname,
        port=address.port,
        distance_function="cosine",
    )
    documents = make_documents(12)
    embedded = SBERTDocumentEmbedder(model=str(tiny_model_dir), progress_bar=False).run(documents)["documents"]
    assert DocumentWriter(document_store=store).run(embedded)["documents_written"] == 12
    assert store.count_documents() == 12

    querying = Pipeline()
    querying.add_component("embedder", SBERTTextEmbedder(model=str(tiny_model_dir)))
    querying.add_component("retriever", chroma_retrievers.ChromaEmbeddingRetriever(document_store=store, top_k=4))
    querying.connect("embedder.embedding", "retriever.query_embedding")
    querying = Pipeline.loads(querying.dumps(), allowed_modules=ALLOWED_MODULES)
    hits = querying.run({"embedder": {"text": documents[7].content}})["retriever"]["documents"]
    assert len(hits) == 4 and hits[0].id == "doc-7"
    assert hits[0].meta["title"] == documents[7].meta["title"]


def tmp_name(path: Path) -> str:
    """A collection name unique to this test session (the session's temporary folder name)."""
    return path.parent.name
