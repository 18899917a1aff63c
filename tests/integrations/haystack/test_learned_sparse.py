"""The sparse embedders with a learned sparse model (SPLADE): Haystack's QdrantHybridRetriever over a store
they filled gives the ingestor's hybrid top 10 (sparse_model=, the same vectors, the same RRF)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter

from integrations.haystack import (
    ALLOWED_MODULES,
    SBERTDocumentEmbedder,
    SBERTSparseDocumentEmbedder,
    SBERTSparseTextEmbedder,
    SBERTTextEmbedder,
)
from integrations.learned_sparse import LearnedSparseEncoder
from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse import SparseEncoder
from tests.integrations.corpus import make_docs, make_text

qdrant_store = pytest.importorskip("haystack_integrations.document_stores.qdrant")
qdrant_retrievers = pytest.importorskip("haystack_integrations.components.retrievers.qdrant")

CORPUS_SIZE = 60
# Qdrant's default prefetch depth, which QdrantHybridRetriever uses for each side before fusing.
HYBRID_PREFETCH = 10


@pytest.fixture()
def ingested(tiny_encoder: SentenceEncoder, tiny_splade_dir: Path) -> Iterator[QdrantIngestor]:
    ingestor = QdrantIngestor(tiny_encoder, "reference", path=":memory:", sparse_model=str(tiny_splade_dir))
    ingestor.ingest(make_docs(CORPUS_SIZE), show_progress=False)
    yield ingestor
    ingestor.close()


def test_hybrid_retriever_over_learned_sparse_vectors_gives_the_ingestors_top_10(
    tiny_model_dir: Path, tiny_splade_dir: Path, ingested: QdrantIngestor
) -> None:
    store = qdrant_store.QdrantDocumentStore(
        location=":memory:",
        index="docs",
        embedding_dim=32,
        similarity="cosine",
        use_sparse_embeddings=True,
        sparse_idf=False,  # a learned model's weights are the whole score
        progress_bar=False,
    )
    indexing = Pipeline()
    indexing.add_component("dense", SBERTDocumentEmbedder(model=str(tiny_model_dir), progress_bar=False))
    indexing.add_component("sparse", SBERTSparseDocumentEmbedder(model=str(tiny_splade_dir)))
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("dense.documents", "sparse.documents")
    indexing.connect("sparse.documents", "writer.documents")
    documents = [Document(id=d["id"], content=d["text"], meta=d["metadata"]) for d in make_docs(CORPUS_SIZE)]
    assert indexing.run({"dense": {"documents": documents}})["writer"]["documents_written"] == CORPUS_SIZE

    # The query side through a saved and reloaded pipeline (the learned model is named by its folder).
    querying = Pipeline()
    querying.add_component("dense", SBERTTextEmbedder(model=str(tiny_model_dir)))
    querying.add_component("sparse", SBERTSparseTextEmbedder(model=str(tiny_splade_dir)))
    querying = Pipeline.loads(querying.dumps(), allowed_modules=ALLOWED_MODULES)
    retriever = qdrant_retrievers.QdrantHybridRetriever(document_store=store, top_k=10)
    for query in [make_text(i) for i in range(0, CORPUS_SIZE, 9)] + ["a dog sings at night", "people cook bread"]:
        embedded = querying.run({"dense": {"text": query}, "sparse": {"text": query}})
        found = retriever.run(
            query_embedding=embedded["dense"]["embedding"],
            query_sparse_embedding=embedded["sparse"]["sparse_embedding"],
        )["documents"]
        ours = ingested.search(query, k=10, mode="hybrid", prefetch_k=HYBRID_PREFETCH)
        # The same RRF scores in the same order; two stores break exact ties by their own point ids.
        assert [d.score for d in found] == pytest.approx([h.score for h in ours], abs=1e-6), query
        every = {h.id: h.score for h in ingested.search(query, k=2 * HYBRID_PREFETCH, prefetch_k=HYBRID_PREFETCH)}
        assert all(every[d.id] == pytest.approx(d.score, abs=1e-6) for d in found), query
        # Every candidate (each side's best 10) is in `every`: at each score, the same documents (at the lowest,
        # the cut may fall inside a tie).
        levels = sorted({d.score for d in found}, reverse=True)
        for level in levels:
            theirs = {d.id for d in found if abs(d.score - level) < 1e-9}
            mine = {doc for doc, score in every.items() if abs(score - level) < 1e-9}
            assert theirs <= mine if level == levels[-1] else theirs == mine, query


def test_sparse_embedders_take_a_loaded_model_and_match_the_ingestors_vectors(tiny_splade_dir: Path) -> None:
    loaded = SparseEncoder(tiny_splade_dir, device="cpu")
    reference = LearnedSparseEncoder(loaded)
    text = make_text(3)
    query = SBERTSparseTextEmbedder(model=loaded).run(text)["sparse_embedding"]
    expected = reference.encode_query(text)
    assert query.indices == list(expected.indices) and query.values == pytest.approx(list(expected.values))
    embedder = SBERTSparseDocumentEmbedder(model=loaded)
    embedder.warm_up()
    (document,) = embedder.run([Document(content=text)])["documents"]
    expected = reference.encode_documents([text])[0]
    assert document.sparse_embedding.indices == list(expected.indices)
    assert embedder.to_dict()["init_parameters"]["model"] == str(tiny_splade_dir)  # its source, for saved pipelines
    with pytest.raises(ConfigError, match="built in code"):
        SBERTSparseTextEmbedder(model=SparseEncoder(modules=list(loaded), device="cpu")).to_dict()
    with pytest.raises(ConfigError, match="not both"):
        SBERTSparseTextEmbedder(model=loaded, bm25={"k1": 1.0})
