"""``sbert-plugins finetune``: the finetune pipeline from the command line.

Registered through the ``sbert_plugins.cli`` entry point (see :mod:`sbert_plugins.cli`)::

    sbert-plugins finetune --pairs pairs.jsonl --corpus corpus.jsonl --output out/model \\
        --reranker-output out/reranker
"""

from __future__ import annotations

import argparse
import json
import logging
from contextlib import nullcontext
from typing import Any

from sbert_plugins.hf_loading import quiet_loads
from trainers.finetune.config import FinetuneConfig
from trainers.finetune.evaluation import HEADLINE


def register(subparsers: Any) -> None:
    """Add the ``finetune`` sub-command to the ``sbert-plugins`` parser."""
    defaults = FinetuneConfig(output="-")
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a retrieval model on (query, positive) pairs; keeps the better of base and fine-tuned",
        description=(
            "Validate the pairs, hold out a dev split of queries, evaluate the base model, mine hard negatives "
            "with it, train with MultipleNegativesRankingLoss, evaluate again and keep the better model "
            "(sentence-transformers folder + README.md model card + metrics.json). Optionally train a "
            "cross-encoder re-ranker on the same pairs. An interrupted run continues with --resume."
        ),
    )
    parser.add_argument(
        "--pairs", required=True, help="JSONL of {query, positive[, negative(s)]} rows, or a BEIR folder"
    )
    parser.add_argument("--corpus", default=None, help="BEIR-style corpus JSONL (_id, title, text) for JSONL pairs")
    parser.add_argument("--base", default=None, help="model to start from (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--output", required=True, help="folder for the kept model, its card and metrics.json")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak learning rate")
    parser.add_argument(
        "--hard-negatives", type=int, default=defaults.hard_negatives, help="mined negatives per pair (0: none)"
    )
    parser.add_argument("--skip-top", type=int, default=defaults.skip_top, help="mining skips this many top ranks")
    parser.add_argument("--dev-ratio", type=float, default=defaults.dev_ratio, help="share of queries held out")
    parser.add_argument("--dev-size", type=int, default=None, help="number of queries held out (wins over --dev-ratio)")
    parser.add_argument("--max-seq-length", type=int, default=None, help="truncate texts to this many tokens")
    parser.add_argument("--reranker-output", default=None, help="also train a cross-encoder re-ranker into this folder")
    parser.add_argument("--reranker-min-steps", type=int, default=defaults.reranker_min_steps)
    parser.add_argument(
        "--reranker-max-length",
        type=int,
        default=defaults.reranker_max_length,
        help="tokens per (query, document) pair the re-ranker reads (on SciFact, 160 instead of 256 lost its gain)",
    )
    parser.add_argument(
        "--reranker-pseudo-queries",
        type=int,
        default=defaults.reranker_pseudo_queries,
        help="also train the re-ranker on this many (title, text) pairs of titled corpus documents",
    )
    parser.add_argument(
        "--reranker-first-stage-scale",
        type=float,
        default=defaults.reranker_first_stage_scale,
        help="train the re-ranker as a correction of the kept bi-encoder's cosines times this (default: alone)",
    )
    parser.add_argument(
        "--choose-stack",
        action="store_true",
        help="keep validation queries and choose the retrieval stack on them (dense, BM25, hybrid; always with "
        "--reranker-output or --sparse-base); recorded in stack.json for search, LangChain and Haystack",
    )
    parser.add_argument(
        "--sparse-base",
        default=None,
        help="also fine-tune a learned sparse model from this folder (a SparseEncoder, or a transformer such as "
        "all-MiniLM-L6-v2 made into inference-free SPLADE); kept in OUTPUT/sparse",
    )
    parser.add_argument("--sparse-lr", type=float, default=defaults.sparse_learning_rate)
    parser.add_argument("--sparse-epochs", type=int, default=defaults.sparse_epochs)
    parser.add_argument(
        "--sparse-document-regularizer",
        type=float,
        default=defaults.sparse_document_regularizer,
        help="SpladeLoss's FLOPS weight on documents (higher: sparser documents)",
    )
    parser.add_argument(
        "--sparse-pseudo-queries",
        type=int,
        default=defaults.sparse_pseudo_queries,
        help="also train the sparse model on this many (title, text) pairs of titled corpus documents",
    )
    parser.add_argument("--rerank-top-k", type=int, default=defaults.rerank_top_k, help="candidates to re-rank")
    parser.add_argument("--checkpoint-steps", type=int, default=defaults.checkpoint_steps)
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), default=defaults.precision, help="training arithmetic (bf16: autocast)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    parser.add_argument("--overwrite", action="store_true", help="delete a previous run in --output first")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, phase log or transformers load reports")
    parser.set_defaults(handler=run_finetune)


def build_config(args: argparse.Namespace) -> FinetuneConfig:
    """The FinetuneConfig of a ``finetune`` command line (raises ConfigError for invalid values)."""
    return FinetuneConfig(
        base=args.base,
        output=args.output,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        hard_negatives=args.hard_negatives,
        skip_top=args.skip_top,
        dev_ratio=args.dev_ratio,
        dev_size=args.dev_size,
        max_seq_length=args.max_seq_length,
        reranker_output=args.reranker_output,
        reranker_min_steps=args.reranker_min_steps,
        reranker_max_length=args.reranker_max_length,
        reranker_pseudo_queries=args.reranker_pseudo_queries,
        reranker_first_stage_scale=args.reranker_first_stage_scale or None,
        rerank_top_k=args.rerank_top_k,
        choose_stack=args.choose_stack,
        sparse_base=args.sparse_base,
        sparse_learning_rate=args.sparse_lr,
        sparse_epochs=args.sparse_epochs,
        sparse_document_regularizer=args.sparse_document_regularizer,
        sparse_pseudo_queries=args.sparse_pseudo_queries,
        checkpoint_steps=args.checkpoint_steps,
        precision=args.precision,
        seed=args.seed,
        show_progress=not args.quiet,
    )


def run_finetune(args: argparse.Namespace) -> int:
    """Handler of ``sbert-plugins finetune``: run the pipeline, print the dev metrics table and the summary."""
    from trainers.finetune.card import reranked_rows, sparse_rows, stack_rows
    from trainers.finetune.run import finetune

    config = build_config(args)
    if not args.quiet:  # the phase log, whatever the level of the root logger
        package_logger = logging.getLogger("trainers.finetune")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[finetune] %(message)s"))
        package_logger.addHandler(handler)
        package_logger.setLevel(logging.INFO)
        package_logger.propagate = False
    with quiet_loads() if args.quiet else nullcontext():  # no transformers load reports either
        report = finetune(args.pairs, config, corpus=args.corpus, resume=args.resume, overwrite=args.overwrite)
    print(f"{'dev metrics':<44}" + "".join(f"{k:>12}" for k in HEADLINE))
    rows = [("base", report["base"]), ("fine-tuned", report["fine_tuned"])]
    rows += reranked_rows(report)
    rows += sparse_rows(report)
    for name, metrics in rows:
        print(f"{name:<44}" + "".join(f"{metrics[k]:>12.4f}" for k in HEADLINE))
    for index, (name, validation, dev) in enumerate(stack_rows(report)):
        label = f"stack {name}" + (" (chosen)" if index == 0 else "") + f", validation {validation:.4f}"
        print(f"{label:<44}" + "".join(f"{dev[k]:>12.4f}" for k in HEADLINE))
    print(
        json.dumps(
            {"output": args.output, "kept": report["kept"], "timings_s": report["timings_s"], "cpu_s": report["cpu_s"]},
            indent=2,
        )
    )
    return 0
