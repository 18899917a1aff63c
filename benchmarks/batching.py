"""How the encoder's batches are cut on a CPU: length cuts (the default) vs the token budget filled vs
32 texts a pass (the reference's default), same model, same texts, one process, alternating rounds.

Each mode encodes the same calls: ``--short`` STSb dev sentences in one call, the same sentences in calls
of 64 random ones (what the server gathers from 64 clients), ``--long`` SciFact abstracts in one call, and
as many in calls of 8 random ones (what it gathers from 8 clients).
It prints texts per CPU-second of the encoding thread (which other jobs on the machine change little)
and per wall-clock second, best of ``--rounds``. "filled" turns the length cuts off by giving the
encoder no pass cost, which is how it batched before them. With ``--precision bf16`` it also cuts at the
fp32 pass cost (``CPU_PASS_COST_TOKENS``), to show what the bf16 one (``BF16_CPU_PASS_COST_TOKENS``) gains.

Run: python benchmarks/batching.py [--short 1000] [--long 48] [--rounds 3] [--threads 1] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import scifact_documents, stsb_dev_sentences

import sbert_plugins.encoder as encoder_module
from sbert_plugins import SentenceEncoder
from sbert_plugins.batching import CPU_PASS_COST_TOKENS

OWN = -1  # the encoder's own pass cost for its weights
# mode -> (pass cost: OWN, a number of tokens or None for no cuts; texts a pass or None for the token budget)
MODES: dict[str, tuple[int | None, int | None]] = {
    "length cuts": (OWN, None),
    "filled budget": (None, None),
    "32 a pass": (None, 32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=1000, help="STSb dev sentences")
    parser.add_argument("--long", type=int, default=48, help="SciFact abstracts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    modes = dict(MODES)
    if args.precision == "bf16":
        modes["cuts at the fp32 pass cost"] = (CPU_PASS_COST_TOKENS, None)
    torch.set_num_threads(args.threads)
    sentences = stsb_dev_sentences()[: args.short]
    abstracts = scifact_documents()
    rng = random.Random(0)
    cases = {
        f"{len(sentences)} STSb sentences, one call": [sentences],
        "the same, 64 random a call": [rng.sample(sentences, 64) for _ in range(max(1, len(sentences) // 64))],
        f"{args.long} SciFact abstracts, one call": [abstracts[: args.long]],
        "SciFact abstracts, 8 random a call": [rng.sample(abstracts, 8) for _ in range(max(1, args.long // 8))],
    }
    encoder = SentenceEncoder(device="cpu", precision=args.precision).eval()
    encoder.encode(sentences[:64])
    with_cuts = encoder_module.pass_cost_tokens
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for round_index in range(args.rounds):
        for case, calls in cases.items():
            ordered = list(modes.items())
            for mode, (pass_cost, batch_size) in ordered if round_index % 2 == 0 else ordered[::-1]:
                encoder_module.pass_cost_tokens = (
                    with_cuts if pass_cost == OWN else lambda device_type, dtype=None, cost=pass_cost: cost
                )
                cpu, wall = time.thread_time(), time.perf_counter()
                for texts in calls:
                    encoder.encode(texts, batch_size=batch_size)
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                old = best.get((case, mode), (float("inf"), float("inf")))
                best[(case, mode)] = (min(old[0], cpu), min(old[1], wall))
    encoder_module.pass_cost_tokens = with_cuts
    print(
        f"all-MiniLM-L6-v2 {args.precision}, {args.threads} thread(s), best of {args.rounds}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    for case, calls in cases.items():
        count = sum(len(texts) for texts in calls)
        figures = ", ".join(
            f"{mode}: {count / best[(case, mode)][0]:.0f} per CPU-s ({count / best[(case, mode)][1]:.0f}/s)"
            for mode in modes
        )
        print(f"{case}: {figures}")


if __name__ == "__main__":
    main()
