"""Recipe: retrieval. Fine-tune on SciFact (claim, relevant abstract) pairs with MultipleNegativesRankingLoss:
every other abstract in the batch is a negative, so the no-duplicates sampler keeps a claim or an abstract
from appearing twice in one batch.

Data: ../shared/data/scifact (BEIR layout: corpus-part*.jsonl, queries.jsonl, qrels/train.tsv; only
train queries are shipped, so the last 20% of them are held out for evaluation). Evaluates nDCG@10 of
retrieving the held-out claims' abstracts from the corpus, before and after.

Run:  python examples/train_retrieval.py --limit 200   (200 training pairs, and a 1,000-abstract corpus)
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation import InformationRetrievalEvaluator
from trainers import Trainer, TrainingConfig, losses

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


def read_scifact() -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """(corpus id -> title + " " + text, query id -> claim, query id -> relevant corpus ids)."""
    corpus: dict[str, str] = {}
    for part in sorted(DATA.glob("corpus-part*-of-3.jsonl")):
        with part.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    doc = json.loads(line)
                    corpus[doc["_id"]] = f"{doc['title']} {doc['text']}"
    with (DATA / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = {q["_id"]: q["text"] for q in map(json.loads, handle)}
    relevant: dict[str, set[str]] = {}
    with (DATA / "qrels" / "train.tsv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return corpus, queries, relevant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model to fine-tune (default: all-MiniLM-L6-v2)")
    parser.add_argument("--limit", type=int, default=None, help="use only N training pairs and a smaller corpus")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--output", default="out/retrieval")
    args = parser.parse_args()

    corpus, queries, relevant = read_scifact()
    query_ids = sorted((q for q in relevant if q in queries), key=int)
    cut = int(len(query_ids) * 0.8)
    train_ids, eval_ids = query_ids[:cut], query_ids[cut:]
    train = [
        {"query": queries[q], "document": corpus[d]} for q in train_ids for d in sorted(relevant[q]) if d in corpus
    ]
    if args.limit:
        train = train[: args.limit]
        eval_ids = eval_ids[: max(args.limit // 4, 10)]
        needed = {d for q in eval_ids for d in relevant[q]}
        kept = [d for d in corpus if d in needed] + [d for d in corpus if d not in needed][:1000]
        corpus = {d: corpus[d] for d in kept}
    evaluator = InformationRetrievalEvaluator(
        {q: queries[q] for q in eval_ids},
        corpus,
        {q: relevant[q] for q in eval_ids},
        name="scifact-heldout",
    )
    model = SentenceEncoder(args.model)
    print(f"training pairs: {len(train)}  held-out queries: {len(eval_ids)}  corpus: {len(corpus)}")
    primary = evaluator.primary_metric
    print(f"before: {primary}={evaluator(model)[primary]:.4f}")
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_ratio=0.1,
        batch_sampler="no_duplicates",
        output_dir=args.output,
    )
    loss = losses.MultipleNegativesRankingLoss(model)
    metrics = Trainer(model, loss=loss, train_data=train, config=config, evaluator=evaluator).train()
    print(f"after:  {primary}={metrics[primary]:.4f}  model saved in {args.output}")


if __name__ == "__main__":
    main()
