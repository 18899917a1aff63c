"""Recipe: natural language inference. Fine-tune on SICK with SoftmaxLoss, the Sentence-BERT NLI objective
(a classifier on (u, v, |u - v|) over the three labels).

Data: ../shared/data/sick (SICK_train.txt for training, SICK_trial.txt for evaluation; tab-separated with a
header). Evaluates the Spearman correlation of cosine similarity with SICK's relatedness scores, as the
paper evaluates NLI-trained models on STS.

Run:  python examples/train_nli.py --limit 200
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation import EmbeddingSimilarityEvaluator
from trainers import Trainer, TrainingConfig, losses

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sick"
LABELS = {"CONTRADICTION": 0, "ENTAILMENT": 1, "NEUTRAL": 2}


def read_sick(path: Path, limit: int | None) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[:limit] if limit else rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model to fine-tune (default: all-MiniLM-L6-v2)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and trial pairs")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--output", default="out/nli")
    args = parser.parse_args()

    model = SentenceEncoder(args.model)
    train = [
        {"premise": r["sentence_A"], "hypothesis": r["sentence_B"], "label": LABELS[r["entailment_judgment"]]}
        for r in read_sick(DATA / "SICK_train.txt", args.limit)
    ]
    trial = read_sick(DATA / "SICK_trial.txt", args.limit)
    evaluator = EmbeddingSimilarityEvaluator(
        [r["sentence_A"] for r in trial],
        [r["sentence_B"] for r in trial],
        [float(r["relatedness_score"]) for r in trial],
        name="sick-trial",
    )
    print(f"before: {evaluator.primary_metric}={evaluator(model)[evaluator.primary_metric]:.4f}")
    loss = losses.SoftmaxLoss(model, num_labels=len(LABELS))
    config = TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, warmup_ratio=0.1, output_dir=args.output
    )
    metrics = Trainer(model, loss=loss, train_data=train, config=config, evaluator=evaluator).train()
    print(
        f"after:  sick-trial_spearman_cosine={metrics['sick-trial_spearman_cosine']:.4f}  model saved in {args.output}"
    )


if __name__ == "__main__":
    main()
