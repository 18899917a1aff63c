"""Peak memory of one training step: CachedMultipleNegativesRankingLoss against MultipleNegativesRankingLoss.

Usage::

    python benchmarks/cached_mnrl_memory.py [--batch-sizes 32 64 128 256 512] [--mini-batch-size 32]
                                            [--device cpu|cuda]

Each (loss, batch size) runs in a fresh Python process, so one measurement cannot inherit another's heap.
The process loads the packaged all-MiniLM-L6-v2, tokenizes the first ``batch`` (sentence1, sentence2) pairs of
STSb English dev (or synthetic sentences when ../shared/data is absent), runs one warm-up step on two pairs
(so the parameters' ``.grad`` buffers, the autograd engine and the BLAS workspaces already exist), records the
memory in use, then runs one forward + backward step on the whole batch in training mode and records the peak.
The figure is the growth of the peak over that baseline: the activations, the graph and the score matrix.

How memory is measured:

* CUDA: ``torch.cuda.max_memory_allocated()`` minus the memory allocated before the step (exact, per tensor).
* CPU: torch has no allocator statistics on CPU, and ``tracemalloc`` does not see its allocations, so we use
  the process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, a high-water mark kept
  by the kernel). The workers run with ``MALLOC_MMAP_THRESHOLD_=131072``, so every tensor above 128 KiB (the
  activations here are megabytes) is mapped and unmapped directly and RSS follows the live tensors; small
  allocations may stay in the heap after being freed, which can only make a growth figure larger, never hide
  a peak.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MIB = 1024 * 1024


def _pairs(count: int, data: str = "stsb") -> tuple[list[str], list[str]]:
    from benchmarks._data import DATA_DIR, stsb_dev_pairs

    if data == "stsb" and (DATA_DIR / "stsb" / "stsb-en-dev.csv").is_file():
        first, second, _ = stsb_dev_pairs()
        if len(first) >= count:
            return first[:count], second[:count]
    words = ["the", "a", "man", "woman", "dog", "cat", "plays", "runs", "eats", "in", "park", "guitar", "book"]
    rng = random.Random(0)
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(2 * count)]
    return texts[:count], texts[count:]


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def worker(kind: str, batch: int, mini_batch_size: int, device: str, data: str) -> dict[str, float | str | int]:
    """One measurement (run in its own process): the peak memory growth of one step of ``kind`` on ``batch`` pairs."""
    import torch

    from sbert_plugins import SentenceEncoder
    from trainers.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss

    torch.manual_seed(0)
    model = SentenceEncoder(device=device).train()
    if kind == "cached":
        loss: torch.nn.Module = CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size)
    else:
        loss = MultipleNegativesRankingLoss(model)
    anchors, positives = _pairs(batch, data)
    features = [model.tokenize(anchors), model.tokenize(positives)]
    warm_up = [model.tokenize(anchors[:2]), model.tokenize(positives[:2])]
    loss(warm_up).backward()  # the .grad buffers are kept: they belong to the baseline

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    else:
        baseline = _rss_peak_bytes()
    started = time.perf_counter()
    value = loss(features)
    value.backward()
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _rss_peak_bytes()
    return {
        "kind": kind,
        "batch": batch,
        "growth_mib": (peak - baseline) / MIB,
        "seconds": time.perf_counter() - started,
        "tokens": int(sum(int(f["attention_mask"].sum()) for f in features)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--mini-batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--data",
        choices=("stsb", "synthetic"),
        default="stsb",
        help="STSb dev pairs (lengths vary: larger batches reach longer texts), or 12-word synthetic sentences",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads in each worker (default: torch's)")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.worker:
        result = worker(args.worker[0], int(args.worker[1]), args.mini_batch_size, args.device, args.data)
        print(json.dumps(result))
        return

    # A fixed mmap threshold: glibc otherwise raises it after each freed large block (up to 32 MiB), and
    # later tensors below it stay in the heap after being freed, so RSS would report freed memory as in use.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
    results: dict[tuple[str, int], dict[str, float]] = {}
    for batch in args.batch_sizes:
        for kind in ("plain", "cached"):
            command = [sys.executable, __file__, "--worker", kind, str(batch)]
            command += ["--mini-batch-size", str(args.mini_batch_size), "--device", args.device, "--data", args.data]
            if args.threads is not None:
                command += ["--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                sys.exit(f"worker {kind} {batch} failed:\n{done.stderr[-3000:]}")
            results[(kind, batch)] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  measured {kind:6s} batch {batch:4d}", file=sys.stderr, flush=True)

    measure = "CUDA max_memory_allocated" if args.device.startswith("cuda") else "peak RSS"
    print(f"\nOne training step of all-MiniLM-L6-v2 on {args.device}: growth of {measure} over the warm baseline")
    source = "STSb dev pairs" if args.data == "stsb" else "synthetic 12-word sentences"
    print(f"(CachedMultipleNegativesRankingLoss with mini_batch_size={args.mini_batch_size}; {source})\n")
    print("| batch | tokens | MNRL MiB | cached MiB | MNRL s | cached s |")
    print("|------:|-------:|---------:|-----------:|-------:|---------:|")
    for batch in args.batch_sizes:
        plain, cached = results[("plain", batch)], results[("cached", batch)]
        print(
            f"| {batch} | {int(plain['tokens'])} | {plain['growth_mib']:.0f} | {cached['growth_mib']:.0f} "
            f"| {plain['seconds']:.1f} | {cached['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
