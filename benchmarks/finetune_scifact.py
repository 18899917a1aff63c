"""SciFact fine-tune, end to end: base vs fine-tuned vs fine-tuned + re-ranker (alone, and mixed with the
bi-encoder's scores at the weight chosen on validation claims) on a dev split of the train claims, and the
time of every phase.

Data: ../shared/data/scifact (BEIR folder; only train qrels are shipped, so ``finetune`` carves a seeded
20% of the claims out as the dev split). Every dev claim retrieves from the whole corpus (5,183 abstracts).

Run:  python benchmarks/finetune_scifact.py                  (writes out/scifact-finetune, out/scifact-reranker)
      python benchmarks/finetune_scifact.py --resume         (continue an interrupted run)

Prints the dev nDCG@10 / MRR@10 / Recall@100 of the three systems, seconds per phase, the process CPU time
and the load average: on a shared machine wall time depends on the other processes, CPU time much less.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.card import reranked_rows
from trainers.finetune.evaluation import HEADLINE

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="a BEIR folder (default: ../shared/data/scifact)")
    parser.add_argument("--base", default=None, help="model to start from (default: all-MiniLM-L6-v2)")
    parser.add_argument("--output", default="out/scifact-finetune")
    parser.add_argument("--reranker-output", default="out/scifact-reranker")
    parser.add_argument("--no-reranker", action="store_true")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hard-negatives", type=int, default=1)
    parser.add_argument("--max-seq-length", type=int, default=None, help="default: the model's (256)")
    parser.add_argument("--reranker-min-steps", type=int, default=300)
    parser.add_argument(
        "--reranker-max-length",
        type=int,
        default=256,
        help="tokens per (claim, abstract) pair, training and scoring (at 160, 97%% of pairs were cut short)",
    )
    parser.add_argument("--reranker-pseudo-queries", type=int, default=3000, help="titles as extra re-ranker queries")
    parser.add_argument("--rerank-top-k", type=int, default=30)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="training arithmetic")
    parser.add_argument("--seed", type=int, default=42, help="seeds the dev split, negatives and training")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"SciFact not found at {args.data}")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trainers.finetune").setLevel(logging.INFO)
    config = FinetuneConfig(
        base=args.base,
        output=args.output,
        epochs=args.epochs,
        batch_size=args.batch_size,
        hard_negatives=args.hard_negatives,
        max_seq_length=args.max_seq_length,
        reranker_output=None if args.no_reranker else args.reranker_output,
        reranker_min_steps=args.reranker_min_steps,
        reranker_max_length=args.reranker_max_length,
        reranker_pseudo_queries=args.reranker_pseudo_queries,
        rerank_top_k=args.rerank_top_k,
        precision=args.precision,
        seed=args.seed,
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    report = finetune(args.data, config, resume=args.resume, overwrite=not args.resume)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)

    data = report["data"]
    print(f"\n{args.data.name} dev split: {data['dev_queries']} queries over {data['corpus_documents']:,} documents")
    print(f"{'':<44}" + "".join(f"{k:>12}" for k in HEADLINE))
    rows = [(f"base {args.base or 'all-MiniLM-L6-v2'}"[:44], report["base"]), ("fine-tuned", report["fine_tuned"])]
    rows += reranked_rows(report)
    for name, metrics in rows:
        print(f"{name:<44}" + "".join(f"{metrics[k]:>12.4f}" for k in HEADLINE))
    gain = report["fine_tuned"]["ndcg@10"] - report["base"]["ndcg@10"]
    print(f"fine-tuned nDCG@10 gain over base: {gain:+.4f}; kept: {report['kept']}")
    print("seconds per phase, wall and process CPU (phases done by an earlier run keep their times):")
    for phase, seconds in report["timings_s"].items():
        print(f"  {phase:<24}{seconds:>9.1f}{report['cpu_s'].get(phase, float('nan')):>9.1f}")
    print(
        f"wall {wall:.0f} s, process CPU {usage.ru_utime + usage.ru_stime:.0f} s, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"load average (1/5/15 min) at start {load_before}, at end {os.getloadavg()} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
