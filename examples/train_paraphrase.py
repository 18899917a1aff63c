"""Recipe: paraphrase detection. Fine-tune on MRPC pairs labelled 1 (paraphrase) or 0 with
OnlineContrastiveLoss (pulls paraphrases together, pushes the hard non-paraphrases apart).

Data: ../shared/data/mrpc (msr-para-train.tsv, msr-para-val.tsv: tab-separated with a header; the texts
hold bare quote characters, so they are read with QUOTE_NONE). Evaluates average precision of cosine
similarity for telling paraphrases apart, before and after.

Run:  python examples/train_paraphrase.py --limit 200
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation import BinaryClassificationEvaluator
from trainers import Trainer, TrainingConfig, losses

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mrpc"


def read_mrpc(path: Path, limit: int | None) -> list[dict[str, object]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [
            {"sentence1": r["#1 String"], "sentence2": r["#2 String"], "label": int(r["Quality"])}
            for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    return rows[:limit] if limit else rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model to fine-tune (default: all-MiniLM-L6-v2)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and validation pairs")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--output", default="out/paraphrase")
    args = parser.parse_args()

    model = SentenceEncoder(args.model)
    train = read_mrpc(DATA / "msr-para-train.tsv", args.limit)
    val = read_mrpc(DATA / "msr-para-val.tsv", args.limit)
    evaluator = BinaryClassificationEvaluator(
        [str(r["sentence1"]) for r in val],
        [str(r["sentence2"]) for r in val],
        [int(r["label"]) for r in val],  # type: ignore[call-overload]
        name="mrpc-val",
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
    loss = losses.OnlineContrastiveLoss(model, margin=0.5)
    metrics = Trainer(model, loss=loss, train_data=train, config=config, evaluator=evaluator).train()
    primary = evaluator.primary_metric
    print(f"after:  {primary}={metrics[primary]:.4f}  model saved in {args.output}")


if __name__ == "__main__":
    main()
