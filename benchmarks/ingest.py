"""Ingest throughput into embedded Qdrant: QdrantIngestor vs langchain-qdrant ``QdrantVectorStore.from_texts``.

Same corpus (SciFact's 5,183 documents, ``title + " " + text``), same model (the packaged
all-MiniLM-L6-v2, one instance; LangChain gets it through ``SBERTEmbeddings``), same encode batch
size, each into its own embedded Qdrant folder, in one process. Prints docs/s for both, the ratio,
and the time of a second ingest with our ingestor (every document already stored: skipped without
encoding). The two alternate every ``--chunk`` documents (LangChain: ``from_texts`` then
``add_texts``; ours: one ``ingest`` call per chunk) so that a shared machine's changing load falls on
both alike.

Run: python benchmarks/ingest.py [--limit N] [--chunk 1024]
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
    parser.add_argument(
        "--chunk", type=int, default=1024, help="alternate the two every CHUNK documents (0: each in one go)"
    )
    args = parser.parse_args()
    ids, texts = scifact(args.limit)
    model = SentenceEncoder(device="cpu")
    model.encode(texts[:BATCH_SIZE], batch_size=BATCH_SIZE)  # warm-up, shared by both
    print(f"{len(texts)} documents, model {model.source}, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    chunk = args.chunk or len(texts)
    docs = [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]
    times = {"langchain": 0.0, "ours": 0.0}

    with tempfile.TemporaryDirectory() as root:
        store: QdrantVectorStore | None = None
        ingestor = QdrantIngestor(model, "scifact", path=f"{root}/ours", encode_batch_size=BATCH_SIZE)

        def run_langchain(part: slice) -> None:
            nonlocal store
            if store is None:  # from_texts creates the collection, then adds the texts in batches
                store = QdrantVectorStore.from_texts(
                    texts[part], langchain_embeddings(model), path=f"{root}/langchain", collection_name="scifact"
                )
            else:
                store.add_texts(texts[part])

        def run_ours(part: slice) -> None:
            ingestor.ingest(docs[part], show_progress=False)

        # Alternating chunks, and which goes first, spreads drifting load on a shared machine evenly.
        for n, begin in enumerate(range(0, len(texts), chunk)):
            part = slice(begin, begin + chunk)
            order = [("langchain", run_langchain), ("ours", run_ours)]
            for name, run in order if n % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                run(part)
                times[name] += time.perf_counter() - started
            done = min(begin + chunk, len(texts))
            print(f"  {done} documents: langchain {times['langchain']:.1f}s, ours {times['ours']:.1f}s", flush=True)

        assert store is not None
        langchain_count = store.client.count("scifact").count
        store.client.close()
        again = ingestor.ingest(docs, show_progress=False)
        ours_count = ingestor.count()
        ingestor.close()

    langchain_rate = len(texts) / times["langchain"]
    ours_rate = len(texts) / times["ours"]
    print(f"langchain from_texts: {langchain_count} points, {times['langchain']:.1f}s, {langchain_rate:.1f} docs/s")
    print(f"QdrantIngestor:       {ours_count} points, {times['ours']:.1f}s, {ours_rate:.1f} docs/s")
    print(f"ratio: {ours_rate / langchain_rate:.2f}x   (load average at the end {os.getloadavg()})")
    print(f"re-ingest, all unchanged: {again.skipped} skipped, {again.written} written in {again.seconds:.1f}s")


if __name__ == "__main__":
    main()
