"""Concurrent async queries: N concurrent ``aembed_query`` calls (micro-batched) vs N sequential
``embed_query`` calls vs N concurrent calls through LangChain's default async (one executor job per
call), all with SBERTEmbeddings over the packaged all-MiniLM-L6-v2, same process. Prints queries/s
and the forward passes each way took.

Queries: SciFact claims from ../shared/data (synthetic sentences if the data is absent).

Run: python benchmarks/async_queries.py [--queries 256] [--rounds 3] [--batch-size 32] [--device cpu]
     [--torch-threads N]

On a CPU shared with other busy processes, torch's OpenMP threads make single-query calls erratic;
``--torch-threads 1`` gives steadier figures there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.embeddings import Embeddings

from integrations.langchain import SBERTEmbeddings

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_queries(count: int) -> tuple[list[str], str]:
    """``count`` distinct queries: SciFact claims if present, else generated sentences."""
    path = DATA_DIR / "scifact" / "queries.jsonl"
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            claims = [json.loads(line)["text"] for line in handle if line.strip()]
        if len(claims) >= count:
            return claims[:count], f"SciFact claims ({path})"
    subjects = ["A dog", "The cat", "A child", "Two people", "The old man", "A young woman", "The team", "A bird"]
    actions = ["runs in", "sleeps near", "reads a book in", "eats bread at", "sings a song in", "walks through"]
    places = ["the park", "the kitchen", "the city", "a small house", "the garden", "the station", "the forest"]
    sentences = [f"{s} {a} {p}" for p in places for a in actions for s in subjects]
    return [f"{sentences[i % len(sentences)]}, take {i}." for i in range(count)], "generated sentences"


class ForwardPasses:
    """Counts forward passes of the encoder through a hook."""

    def __init__(self, embeddings: SBERTEmbeddings) -> None:
        self.count = 0
        embeddings.encoder.register_forward_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.count += 1


def timed(fn: Callable[[], list[list[float]]], passes: ForwardPasses) -> tuple[float, int, np.ndarray]:
    before = passes.count
    start = time.perf_counter()
    vectors = fn()
    return time.perf_counter() - start, passes.count - before, np.asarray(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None)
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    queries, source = load_queries(args.queries)
    embeddings = SBERTEmbeddings(batch_size=args.batch_size, device=args.device)
    embeddings.warm_up()
    passes = ForwardPasses(embeddings)
    encoder = embeddings.encoder
    print(f"model: {encoder.source}  device: {encoder.device}  torch threads: {torch.get_num_threads()}")
    print(f"queries: {len(queries)} {source}; batch_size={args.batch_size}; best of {args.rounds} rounds")

    def sequential() -> list[list[float]]:
        return [embeddings.embed_query(q) for q in queries]

    def concurrent() -> list[list[float]]:
        async def gather() -> list[list[float]]:
            return list(await asyncio.gather(*(embeddings.aembed_query(q) for q in queries)))

        return asyncio.run(gather())

    def default_async() -> list[list[float]]:
        async def gather() -> list[list[float]]:
            # langchain_core's default: every call is its own executor job and forward pass
            return list(await asyncio.gather(*(Embeddings.aembed_query(embeddings, q) for q in queries)))

        return asyncio.run(gather())

    ways = {
        "sequential embed_query": sequential,
        "concurrent aembed_query (micro-batched)": concurrent,
        "concurrent, langchain default async": default_async,
    }
    for fn in ways.values():  # warm-up
        fn()
    results: dict[str, tuple[float, int, np.ndarray]] = {}
    for _ in range(args.rounds):
        for name, fn in ways.items():
            seconds, forward, vectors = timed(fn, passes)
            if name not in results or seconds < results[name][0]:
                results[name] = (seconds, forward, vectors)

    reference = results["sequential embed_query"][2]
    for name, (seconds, forward, vectors) in results.items():
        diff = float(np.abs(vectors - reference).max())
        print(
            f"{name:42s} {len(queries) / seconds:9.1f} queries/s  {seconds * 1000:8.1f} ms  "
            f"forward passes: {forward:4d}  max |diff| vs sequential: {diff:.1e}"
        )
    speedup = results["sequential embed_query"][0] / results["concurrent aembed_query (micro-batched)"][0]
    print(f"micro-batched concurrent vs sequential: {speedup:.1f}x")


if __name__ == "__main__":
    main()
