"""Ingest throughput into embedded Qdrant: QdrantIngestor vs langchain-qdrant ``QdrantVectorStore.from_texts``.

Same corpus (SciFact documents, ``title + " " + text``; ``--limit`` keeps the first N), same model (the
packaged all-MiniLM-L6-v2, one fp32 instance shared by both sides; LangChain gets it through
``SBERTEmbeddings``), each run into its own embedded Qdrant folder, in one process. Five runs:

- ours and LangChain's with 32 texts per forward pass (the integrations' old default: "before"),
- ours and LangChain's with the encoder's token-budget batching (the default now: "after"),
- ours with ``precision="bf16"`` (token budget), what a user gets with ``ingest --precision bf16``.

The runs alternate every ``--chunk`` documents (LangChain: ``from_texts`` then ``add_texts``; ours: one
``ingest`` call per chunk), each chunk starting with another run, so that a shared machine's drifting
load falls on all alike. Then: the time of a second ingest (every document already stored: skipped without
encoding), and dense nDCG@10 of the fp32 and bf16 collections on SciFact dev claims (a seeded 20% of the
train claims) whose relevant abstracts are all among the ingested documents.

``--corpus stsb`` ingests STSb dev sentences instead (short texts, where the token budget makes big batches).

Run: python benchmarks/ingest.py [--limit N] [--chunk 256] [--seed 13] [--corpus scifact|stsb]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import DATA_DIR, stsb_dev_sentences
from langchain_qdrant import QdrantVectorStore

from integrations.langchain import SBERTEmbeddings
from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation.readers import read_beir_queries, read_qrels

OLD_BATCH = 32  # texts per forward pass: the integrations' default before token-budget batching
SCIFACT = DATA_DIR / "scifact"


def scifact(limit: int | None) -> tuple[list[str], list[str]]:
    """(ids, ``title + " " + text``) of the SciFact corpus, in corpus order."""
    ids, texts = [], []
    for part in sorted(SCIFACT.glob("corpus-part*-of-3.jsonl")):
        with part.open(encoding="utf-8") as handle:
            for row in map(json.loads, handle):
                ids.append(row["_id"])
                texts.append(f"{row['title']} {row['text']}")
    return ids[:limit], texts[:limit]


def dev_claims(ingested: set[str], seed: int) -> dict[str, tuple[str, set[str]]]:
    """Claim id -> (text, relevant ids) of a seeded 20% of the train claims, kept when every relevant id
    was ingested (so that a corpus subset gives a fair nDCG)."""
    relevant = read_qrels(SCIFACT / "qrels" / "train.tsv")
    claims = {q: text for q, text in read_beir_queries(SCIFACT / "queries.jsonl").items() if q in relevant}
    dev = random.Random(seed).sample(sorted(claims), round(0.2 * len(claims)))
    return {q: (claims[q], relevant[q]) for q in dev if relevant[q] <= ingested}


def ndcg_at_10(ingestor: QdrantIngestor, claims: dict[str, tuple[str, set[str]]]) -> float:
    """Mean binary-relevance nDCG@10 of dense search over ``claims``."""
    total = 0.0
    for text, relevant in claims.values():
        ranked = [hit.id for hit in ingestor.search(text, 10, mode="dense")]
        dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranked) if doc in relevant)
        total += dcg / sum(1.0 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return total / len(claims)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--chunk", type=int, default=256, help="alternate the runs every CHUNK documents")
    parser.add_argument("--seed", type=int, default=13, help="seeds the dev split of the claims")
    parser.add_argument(
        "--corpus", choices=("scifact", "stsb"), default="scifact", help="stsb: short STSb dev sentences (no nDCG)"
    )
    args = parser.parse_args()
    if args.corpus == "stsb":
        texts = stsb_dev_sentences()[: args.limit]
        ids = [f"s{i}" for i in range(len(texts))]
    else:
        ids, texts = scifact(args.limit)
    fp32 = SentenceEncoder(device="cpu")
    bf16 = SentenceEncoder(device="cpu", precision="bf16")
    for model in (fp32, bf16):
        model.encode(texts[:OLD_BATCH])  # warm-up
    print(f"{len(texts)} documents, model {fp32.source}, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    docs = [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]

    with tempfile.TemporaryDirectory() as root:
        ours = {
            "ours fp32, 32/pass (before)": QdrantIngestor(fp32, "s", path=f"{root}/a", encode_batch_size=OLD_BATCH),
            "ours fp32, token budget (after)": QdrantIngestor(fp32, "s", path=f"{root}/b"),
            "ours bf16, token budget": QdrantIngestor(bf16, "s", path=f"{root}/c"),
        }
        peers = {
            "langchain fp32, 32/pass (before)": SBERTEmbeddings(model=fp32, batch_size=OLD_BATCH),
            "langchain fp32, token budget (after)": SBERTEmbeddings(model=fp32),
        }
        stores: dict[str, QdrantVectorStore] = {}

        def run_ours(name: str) -> Callable[[slice], None]:
            return lambda part: (ours[name].ingest(docs[part], show_progress=False), None)[1]

        def run_peer(name: str) -> Callable[[slice], None]:
            def run(part: slice) -> None:
                if name not in stores:  # from_texts creates the collection, then adds the texts in batches
                    folder = f"{root}/{len(stores)}-lc"
                    stores[name] = QdrantVectorStore.from_texts(
                        texts[part], peers[name], path=folder, collection_name="s"
                    )
                else:
                    stores[name].add_texts(texts[part])

            return run

        runs = {**{n: run_ours(n) for n in ours}, **{n: run_peer(n) for n in peers}}
        times = dict.fromkeys(runs, 0.0)
        names = list(runs)
        for n, begin in enumerate(range(0, len(texts), args.chunk)):
            part = slice(begin, begin + args.chunk)
            for name in names[n % len(names) :] + names[: n % len(names)]:
                started = time.perf_counter()
                runs[name](part)
                times[name] += time.perf_counter() - started
            print(f"  {min(begin + args.chunk, len(texts))} documents", flush=True)
        counts = {n: s.client.count("s").count for n, s in stores.items()}
        counts.update({n: i.count() for n, i in ours.items()})
        for store in stores.values():
            store.client.close()
        again = ours["ours fp32, token budget (after)"].ingest(docs, show_progress=False)
        claims = dev_claims(set(ids), args.seed) if args.corpus == "scifact" else {}
        compared = ("ours fp32, token budget (after)", "ours bf16, token budget")
        quality = {n: ndcg_at_10(ours[n], claims) for n in compared} if claims else {}
        for ingestor in ours.values():
            ingestor.close()

    rate = {n: len(texts) / t for n, t in times.items()}
    for name in runs:
        print(f"{name:<38} {counts[name]:>5} points  {times[name]:7.1f}s  {rate[name]:6.1f} docs/s")
    before, after = "ours fp32, 32/pass (before)", "ours fp32, token budget (after)"
    peer_before, peer_after = "langchain fp32, 32/pass (before)", "langchain fp32, token budget (after)"
    print("ratios (docs/s):")
    print(f"  ours after / ours before:            {rate[after] / rate[before]:.2f}x")
    print(f"  ours / langchain, both before:       {rate[before] / rate[peer_before]:.2f}x")
    print(f"  ours / langchain, both after:        {rate[after] / rate[peer_after]:.2f}x")
    print(f"  ours bf16 / langchain fp32 (after):  {rate['ours bf16, token budget'] / rate[peer_after]:.2f}x")
    print(f"re-ingest, all unchanged: {again.skipped} skipped, {again.written} written in {again.seconds:.1f}s")
    if quality:
        print(f"SciFact dev nDCG@10 (dense, {len(claims)} claims whose abstracts were all ingested, seed {args.seed})")
        for name, value in quality.items():
            print(f"  {name:<36} {value:.4f}")
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
