"""Recipe: semantic textual similarity. Fine-tune on STSb pairs with CosineSimilarityLoss.

Data: ../shared/data/stsb (sentence1, sentence2, score 0-5; scores are divided by 5 for cosine targets).
Evaluates STSb dev Spearman (cosine) before and after training.

Run:  python examples/train_sts.py --limit 200      (a quick check)
      python examples/train_sts.py                  (the full recipe: 1 epoch, batch 16, lr 2e-5, 10% warmup)
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation import EmbeddingSimilarityEvaluator
from trainers import Trainer, TrainingConfig, losses

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stsb"


def read_pairs(path: Path, limit: int | None) -> list[dict[str, object]]:
    """STSb rows as {sentence1, sentence2, label in [0, 1]} (the file has no header; CRLF line ends)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [{"sentence1": a, "sentence2": b, "label": float(s) / 5} for a, b, s in csv.reader(handle)]
    return rows[:limit] if limit else rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model to fine-tune (default: all-MiniLM-L6-v2)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and dev pairs")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--output", default="out/sts")
    args = parser.parse_args()

    model = SentenceEncoder(args.model)
    train = read_pairs(DATA / "stsb-en-train.csv", args.limit)
    dev = read_pairs(DATA / "stsb-en-dev.csv", args.limit)
    evaluator = EmbeddingSimilarityEvaluator(
        [r["sentence1"] for r in dev], [r["sentence2"] for r in dev], [r["label"] for r in dev], name="sts-dev"
    )
    print(f"before: {evaluator.primary_metric}={evaluator(model)[evaluator.primary_metric]:.4f}")
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_ratio=0.1,
        group_by_length=True,
        output_dir=args.output,
    )
    trainer = Trainer(
        model, loss=losses.CosineSimilarityLoss(model), train_data=train, config=config, evaluator=evaluator
    )
    metrics = trainer.train()
    primary = evaluator.primary_metric
    print(f"after:  {primary}={metrics[primary]:.4f}  model saved in {args.output}")


if __name__ == "__main__":
    main()
