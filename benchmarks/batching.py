"""How the encoder's batches are cut on a CPU: length cuts (the default) vs the token budget filled vs
32 texts a pass (the reference's default), same model, same texts, one process, alternating rounds.

Each mode encodes the same calls: ``--short`` STSb dev sentences in one call, the same sentences in calls
of 64 random ones (what the server gathers from 64 clients), and ``--long`` SciFact abstracts in one call.
It prints texts per CPU-second of the encoding thread (which other jobs on the machine change little)
and per wall-clock second, best of ``--rounds``. "filled" turns the length cuts off by giving the
encoder no pass cost, which is how it batched before them.

Run: python benchmarks/batching.py [--short 1000] [--long 48] [--rounds 3] [--threads 1]
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

MODES = {"length cuts": (True, None), "filled budget": (False, None), "32 a pass": (False, 32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=1000, help="STSb dev sentences")
    parser.add_argument("--long", type=int, default=48, help="SciFact abstracts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = stsb_dev_sentences()[: args.short]
    rng = random.Random(0)
    cases = {
        f"{len(sentences)} STSb sentences, one call": [sentences],
        "the same, 64 random a call": [rng.sample(sentences, 64) for _ in range(max(1, len(sentences) // 64))],
        f"{args.long} SciFact abstracts, one call": [scifact_documents()[: args.long]],
    }
    encoder = SentenceEncoder(device="cpu").eval()
    encoder.encode(sentences[:64])
    with_cuts = encoder_module.pass_cost_tokens
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for round_index in range(args.rounds):
        for case, calls in cases.items():
            modes = list(MODES.items())
            for mode, (cuts, batch_size) in modes if round_index % 2 == 0 else modes[::-1]:
                encoder_module.pass_cost_tokens = with_cuts if cuts else (lambda device_type: None)
                cpu, wall = time.thread_time(), time.perf_counter()
                for texts in calls:
                    encoder.encode(texts, batch_size=batch_size)
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                old = best.get((case, mode), (float("inf"), float("inf")))
                best[(case, mode)] = (min(old[0], cpu), min(old[1], wall))
    encoder_module.pass_cost_tokens = with_cuts
    print(f"all-MiniLM-L6-v2 fp32, {args.threads} thread(s), best of {args.rounds}, load {os.getloadavg()[0]:.1f}")
    for case, calls in cases.items():
        count = sum(len(texts) for texts in calls)
        figures = ", ".join(
            f"{mode}: {count / best[(case, mode)][0]:.0f} per CPU-s ({count / best[(case, mode)][1]:.0f}/s)"
            for mode in MODES
        )
        print(f"{case}: {figures}")


if __name__ == "__main__":
    main()
