"""The LangChain stores read what the ingestors write: QdrantVectorStore (dense and hybrid) and Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("langchain_core")

from integrations.langchain import SBERTEmbeddings
from sbert_plugins import SentenceEncoder
from tests.integrations.corpus import make_docs, make_text


def test_qdrant_vector_store_reads_a_dense_collection(tiny_encoder: SentenceEncoder) -> None:
    pytest.importorskip("langchain_qdrant")
    from langchain_qdrant import QdrantVectorStore

    from integrations.qdrant import QdrantIngestor

    ingestor = QdrantIngestor(tiny_encoder, "lc", path=":memory:")
    ingestor.ingest(make_docs(20), show_progress=False)
    store = QdrantVectorStore(ingestor.client, "lc", embedding=SBERTEmbeddings(model=tiny_encoder))
    (doc, score), *_ = store.similarity_search_with_score(make_text(5), k=3)
    assert doc.page_content == make_text(5)
    assert doc.metadata["n"] == 5 and doc.metadata["parity"] == "odd"
    assert score == pytest.approx(1.0, abs=1e-4)
    # And the other way: what LangChain adds, the ingestor finds.
    store.add_texts(["a horse sings in the kitchen"], metadatas=[{"n": 99}])
    hit = ingestor.search("a horse sings in the kitchen", k=1)[0]
    assert hit.text == "a horse sings in the kitchen" and hit.metadata == {"n": 99}


def test_qdrant_vector_store_reads_a_hybrid_collection(tiny_encoder: SentenceEncoder) -> None:
    pytest.importorskip("langchain_qdrant")
    from langchain_qdrant import QdrantVectorStore, RetrievalMode

    from integrations.langchain import SBERTSparseEmbeddings
    from integrations.qdrant import QdrantIngestor

    ingestor = QdrantIngestor(tiny_encoder, "lc-hybrid", path=":memory:", hybrid=True, sparse_vector_name="bm25")
    ingestor.ingest(make_docs(20), show_progress=False)
    store = QdrantVectorStore(
        ingestor.client,
        "lc-hybrid",
        embedding=SBERTEmbeddings(model=tiny_encoder),
        sparse_embedding=SBERTSparseEmbeddings(bm25=ingestor.bm25.config),
        sparse_vector_name=ingestor.sparse_vector_name,
        retrieval_mode=RetrievalMode.HYBRID,
    )
    docs = store.similarity_search(make_text(7), k=3)
    assert docs[0].page_content == make_text(7)
    ours = ingestor.search(make_text(7), k=3, prefetch_k=3)  # LangChain prefetches k from each side
    assert [h.text for h in ours] == [d.page_content for d in docs]
    # The shipped adapter produces exactly the stored sparse vectors.
    point = ingestor.client.retrieve("lc-hybrid", [docs[0].metadata["_id"]], with_vectors=True)[0]
    stored = point.vector["bm25"]
    expected = SBERTSparseEmbeddings().embed_documents([make_text(7)])[0]
    assert (stored.indices, stored.values) == (expected.indices, pytest.approx(expected.values))


def test_chroma_store_reads_a_collection(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    pytest.importorskip("langchain_chroma")
    from langchain_chroma import Chroma

    from integrations.chroma import ChromaIngestor

    with ChromaIngestor(tiny_encoder, "lc-chroma", path=tmp_path / "c") as ingestor:
        ingestor.ingest(make_docs(20), show_progress=False)
        store = Chroma(
            client=ingestor.client, collection_name="lc-chroma", embedding_function=SBERTEmbeddings(model=tiny_encoder)
        )
        (doc, distance), *_ = store.similarity_search_with_score(make_text(4), k=3)
        assert doc.page_content == make_text(4) and doc.metadata["n"] == 4
        assert distance == pytest.approx(0.0, abs=1e-4)
        (_, relevance), *_ = store.similarity_search_with_relevance_scores(make_text(4), k=1)  # needs the space
        assert relevance == pytest.approx(1.0, abs=1e-4)
        assert store.similarity_search(make_text(4), k=2, filter={"parity": "even"})[0].metadata["parity"] == "even"
