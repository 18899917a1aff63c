"""Ingest throughput into embedded Qdrant: QdrantIngestor vs langchain-qdrant ``QdrantVectorStore.from_texts``.

Same corpus (SciFact's 5,183 documents, ``title + " " + text``), same model (the packaged
all-MiniLM-L6-v2, one instance; LangChain gets it through ``SBERTEmbeddings``), same encode batch
size, each into its own embedded Qdrant folder, in one process. Prints docs/s for both, the ratio,
and the time of a second ingest with our ingestor (every document already stored: skipped without
encoding).

Run: python benchmarks/ingest.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import DATA_DIR
from langchain_core.embeddings import Embeddings
from langchain_qdrant import QdrantVectorStore

from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder

BATCH_SIZE = 32  # texts per forward pass, both sides


def scifact(limit: int | None) -> tuple[list[str], list[str]]:
    """(ids, ``title + " " + text``) of the SciFact corpus, in corpus order."""
    ids, texts = [], []
    for part in sorted((DATA_DIR / "scifact").glob("corpus-part*-of-3.jsonl")):
        with part.open(encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                ids.append(row["_id"])
                texts.append(f"{row['title']} {row['text']}")
    return ids[:limit], texts[:limit]


def langchain_embeddings(model: SentenceEncoder) -> Embeddings:
    try:
        from integrations.langchain import SBERTEmbeddings
    except ImportError:  # an equivalent wrapper, for a checkout without the LangChain adapter

        class SBERTEmbeddings(Embeddings):  # type: ignore[no-redef]
            def __init__(self, model: SentenceEncoder, batch_size: int) -> None:
                self.model, self.batch_size = model, batch_size

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return self.model.encode_documents(texts, batch_size=self.batch_size).tolist()

            def embed_query(self, text: str) -> list[float]:
                return self.model.encode_queries(text).tolist()

    return SBERTEmbeddings(model=model, batch_size=BATCH_SIZE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    args = parser.parse_args()
    ids, texts = scifact(args.limit)
    model = SentenceEncoder(device="cpu")
    model.encode(texts[:BATCH_SIZE], batch_size=BATCH_SIZE)  # warm-up, shared by both
    print(f"{len(texts)} documents, model {model.source}, {os.cpu_count()} CPUs, torch threads: default")

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        store = QdrantVectorStore.from_texts(
            texts, langchain_embeddings(model), path=f"{root}/langchain", collection_name="scifact"
        )
        langchain_seconds = time.perf_counter() - start
        langchain_count = store.client.count("scifact").count
        store.client.close()

        ingestor = QdrantIngestor(model, "scifact", path=f"{root}/ours", encode_batch_size=BATCH_SIZE)
        docs = [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]
        summary = ingestor.ingest(docs)
        again = ingestor.ingest(docs, show_progress=False)
        ours_count = ingestor.count()
        ingestor.close()

    langchain_rate = len(texts) / langchain_seconds
    ours_rate = summary.written / summary.seconds
    print(f"langchain from_texts: {langchain_count} points, {langchain_seconds:.1f}s, {langchain_rate:.1f} docs/s")
    print(f"QdrantIngestor:       {ours_count} points, {summary.seconds:.1f}s, {ours_rate:.1f} docs/s")
    print(f"ratio: {ours_rate / langchain_rate:.2f}x")
    print(f"re-ingest, all unchanged: {again.skipped} skipped, {again.written} written in {again.seconds:.1f}s")


if __name__ == "__main__":
    main()
