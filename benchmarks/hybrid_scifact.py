"""Dense, BM25 and hybrid (reciprocal rank fusion) retrieval on SciFact with QdrantIngestor: nDCG@10.

The corpus (all 5,183 documents, ``title + " " + text``) is ingested once into embedded Qdrant with
BM25 sparse vectors; the queries are a seeded dev split of SciFact's train queries (20% of the 809,
the held-out test split is not used). Each query is searched in the three modes.

Run: python benchmarks/hybrid_scifact.py [--qdrant PATH] [--dev-fraction 0.2] [--seed 13]
     (with --qdrant PATH a second run reuses the stored collection: unchanged documents are skipped.)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import DATA_DIR

from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder

SCIFACT = DATA_DIR / "scifact"


def corpus_rows() -> Iterator[dict[str, Any]]:
    """The BEIR rows of the three corpus parts, in order (the ingestor prepends the title)."""
    for part in sorted(SCIFACT.glob("corpus-part*-of-3.jsonl")):
        with part.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def dev_split(fraction: float, seed: int) -> tuple[dict[str, str], dict[str, set[str]]]:
    """A seeded ``fraction`` of the train queries that have judgments: (query id -> text, id -> relevant docs)."""
    qrels: dict[str, set[str]] = {}
    with (SCIFACT / "qrels" / "train.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = {q["_id"]: q["text"] for q in map(json.loads, handle) if q["_id"] in qrels}
    chosen = random.Random(seed).sample(sorted(queries), round(fraction * len(queries)))
    return {q: queries[q] for q in chosen}, {q: qrels[q] for q in chosen}


def ndcg_at_k(ranked: list[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG@k of one ranking."""
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qdrant", default=":memory:", help="embedded Qdrant folder (default: in memory)")
    parser.add_argument("--dev-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    if not SCIFACT.is_dir():
        sys.exit(f"SciFact not found at {SCIFACT}")

    queries, qrels = dev_split(args.dev_fraction, args.seed)
    model = SentenceEncoder()  # the packaged all-MiniLM-L6-v2
    ingestor = QdrantIngestor(model, "scifact-hybrid", path=args.qdrant, hybrid=True)
    summary = ingestor.ingest(corpus_rows())
    print(summary)
    print(f"dev split: {len(queries)} of the train queries with judgments (seed {args.seed}); model {model.source}")

    for mode in ("dense", "sparse", "hybrid"):
        start = time.perf_counter()
        scores = [
            ndcg_at_k([h.id for h in ingestor.search(text, args.k, mode=mode)], qrels[q], args.k)
            for q, text in queries.items()
        ]
        seconds = time.perf_counter() - start
        print(f"{mode:>6}  nDCG@{args.k} = {sum(scores) / len(scores):.4f}  ({len(scores) / seconds:.1f} queries/s)")
    ingestor.close()


if __name__ == "__main__":
    main()
