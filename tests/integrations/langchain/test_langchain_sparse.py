"""SBERTSparseEmbeddings: LangChain's QdrantVectorStore in hybrid mode over a collection the ingestor wrote
returns the ingestor's own hybrid results (the same BM25 or learned sparse vectors, the same RRF)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from integrations._ingest import point_id
from sbert_plugins import SentenceEncoder
from sbert_plugins.bm25 import BM25Config
from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.readers import read_beir_queries, read_qrels
from sbert_plugins.sparse import SparseEncoder
from tests.integrations.corpus import make_docs, make_text

pytest.importorskip("langchain_qdrant")

from langchain_qdrant import QdrantVectorStore, RetrievalMode

from integrations.langchain import SBERTEmbeddings, SBERTSparseEmbeddings
from integrations.qdrant import QdrantIngestor

DEV_QUERIES = 40
DISTRACTORS = 200


def scifact_subset(folder: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The first 40 claims of a seeded 20% dev split of the train claims (seed 13, as benchmarks/hybrid_scifact.py),
    and a corpus subset: their relevant abstracts plus the first 200 of the corpus."""
    relevant = read_qrels(folder / "qrels" / "train.tsv")
    claims = {q: text for q, text in read_beir_queries(folder / "queries.jsonl").items() if q in relevant}
    dev = random.Random(13).sample(sorted(claims), round(0.2 * len(claims)))[:DEV_QUERIES]
    wanted = set().union(*(relevant[q] for q in dev))
    rows: list[dict[str, Any]] = []
    for part in sorted(folder.glob("corpus-part*-of-3.jsonl")):
        with part.open(encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                if row["_id"] in wanted or len(rows) < DISTRACTORS:
                    rows.append(row)
    return [claims[q] for q in dev], rows


@pytest.mark.slow
def test_langchain_hybrid_search_returns_the_ingestors_top_10_on_scifact_dev(minilm_dir: Path, data_dir: Path) -> None:
    claims, rows = scifact_subset(data_dir / "scifact")
    model = SentenceEncoder(minilm_dir, device="cpu")
    model.max_seq_length = 128  # both sides use this one encoder; shorter only to keep the test quick
    ingestor = QdrantIngestor(model, "scifact", path=":memory:", hybrid=True)
    assert ingestor.ingest(rows, show_progress=False).written == len(rows)
    store = QdrantVectorStore(
        client=ingestor.client,
        collection_name="scifact",
        embedding=SBERTEmbeddings(model=model),
        sparse_embedding=SBERTSparseEmbeddings(bm25=ingestor.bm25.config),
        sparse_vector_name=ingestor.sparse_vector_name,
        retrieval_mode=RetrievalMode.HYBRID,
    )
    for claim in claims:
        # QdrantVectorStore fetches k candidates from each side before RRF: prefetch_k=k does the same.
        ours = [point_id(hit.id, "") for hit in ingestor.search(claim, k=10, mode="hybrid", prefetch_k=10)]
        theirs = [doc.metadata["_id"] for doc in store.similarity_search(claim, k=10)]
        assert theirs == ours, claim


def test_sparse_embeddings_check_their_input() -> None:
    sparse = SBERTSparseEmbeddings()
    query = sparse.embed_query("Cells divide")
    assert len(query.indices) == 2 and query.values == [1.0, 1.0]
    with pytest.raises(TypeError, match="embed_query"):
        sparse.embed_documents("one string")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="BM25Config"):
        SBERTSparseEmbeddings(bm25={"k1": 1.0})  # type: ignore[arg-type]


def test_langchain_hybrid_over_a_learned_sparse_collection_returns_the_ingestors_top_10(
    tiny_model_dir: Path, tiny_splade_dir: Path
) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    splade = SparseEncoder(tiny_splade_dir, device="cpu")
    ingestor = QdrantIngestor(model, "learned", path=":memory:", sparse_model=splade)
    assert ingestor.ingest(make_docs(60), show_progress=False).written == 60
    store = QdrantVectorStore(
        client=ingestor.client,
        collection_name="learned",
        embedding=SBERTEmbeddings(model=model),
        sparse_embedding=SBERTSparseEmbeddings(model=splade),
        sparse_vector_name=ingestor.learned_sparse_vector_name,
        retrieval_mode=RetrievalMode.HYBRID,
    )
    for query in [make_text(i) for i in range(0, 60, 7)] + ["a dog sings at night", "people cook bread"]:
        ours = [point_id(hit.id, "") for hit in ingestor.search(query, k=10, mode="hybrid", prefetch_k=10)]
        theirs = [doc.metadata["_id"] for doc in store.similarity_search(query, k=10)]
        assert theirs == ours, query
    with pytest.raises(ConfigError, match="not both"):
        SBERTSparseEmbeddings(BM25Config(), model=splade)
    query = SBERTSparseEmbeddings(model=str(tiny_splade_dir)).embed_query("a dog")  # by folder, loaded on first use
    assert query.indices == sorted(query.indices) and len(query.indices) == len(query.values) > 0
