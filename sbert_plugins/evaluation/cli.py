"""``sbert-plugins evaluate``: STS or retrieval evaluation of a model from files.

    sbert-plugins evaluate --model M --sts stsb-en-dev.csv --score-scale 5
    sbert-plugins evaluate --model M --ir path/to/beir/scifact --split test
    sbert-plugins evaluate --model M --corpus part1.jsonl part2.jsonl --queries queries.jsonl --qrels qrels/train.tsv

Prints each metric (and the primary one); ``--output FILE.json`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbert_plugins.cli import add_model_arguments, model_options
from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import SIMILARITY_NAMES, Evaluator
from sbert_plugins.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sbert_plugins.evaluation.information_retrieval import InformationRetrievalEvaluator
from sbert_plugins.evaluation.readers import (
    StsData,
    find_beir_files,
    read_beir_corpus,
    read_beir_queries,
    read_qrels,
    read_sts,
)


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` command to the ``sbert-plugins`` sub-parsers."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a model on STS pairs (CSV) or a BEIR retrieval set",
        description="Evaluate a model: --sts FILE for similarity correlation, "
        "--ir FOLDER (or --corpus/--queries/--qrels) for retrieval metrics.",
    )
    add_model_arguments(parser)
    task = parser.add_argument_group("data (give --sts, --ir, or --corpus with --queries and --qrels)")
    task.add_argument(
        "--sts", type=Path, help="CSV (or .tsv) of sentence1,sentence2,score rows; a header row is detected"
    )
    task.add_argument(
        "--score-scale", type=float, default=1.0, help="divide STS scores by this (e.g. 5 for 0-5 scores)"
    )
    task.add_argument(
        "--ir", type=Path, help="BEIR folder with corpus.jsonl (or corpus*.jsonl parts), queries.jsonl, qrels/"
    )
    task.add_argument("--split", default=None, help="qrels split in a BEIR folder (default: the only one, or test)")
    task.add_argument("--corpus", type=Path, nargs="+", help="BEIR corpus JSONL file(s), read in the given order")
    task.add_argument("--queries", type=Path, help="BEIR queries JSONL file")
    task.add_argument("--qrels", type=Path, help="BEIR qrels TSV file (query-id, corpus-id, score)")
    parser.add_argument(
        "--similarity",
        nargs="+",
        choices=SIMILARITY_NAMES,
        default=None,
        help="similarity functions to report (default: all four for STS with the model's own as primary; "
        "the model's own for retrieval)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--name", default="", help="prefix for the metric names")
    parser.add_argument("--output", type=Path, default=None, help="also write the metrics to this JSON file")
    parser.add_argument("--progress", action="store_true", help="show progress bars while encoding")
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class RetrievalData:
    """A retrieval set read from BEIR files."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant_docs: dict[str, set[str]]


def read_data(args: argparse.Namespace) -> StsData | RetrievalData:
    """Read the data the arguments name (before any model loads); :class:`ConfigError` when they conflict."""
    explicit_ir = args.corpus is not None or args.queries is not None or args.qrels is not None
    chosen = [
        flag
        for flag, given in (("--sts", args.sts is not None), ("--ir", args.ir is not None), ("--corpus", explicit_ir))
        if given
    ]
    if len(chosen) != 1:
        raise ConfigError(
            "give exactly one of --sts FILE, --ir FOLDER, or --corpus/--queries/--qrels"
            + (f" (found {' and '.join(chosen)})" if chosen else "")
        )
    if args.sts is not None:
        return read_sts(args.sts, score_scale=args.score_scale)
    if args.ir is not None:
        files = find_beir_files(args.ir, split=args.split)
        corpus_paths, queries_path, qrels_path = files.corpus, files.queries, files.qrels
    else:
        missing = [
            flag
            for flag, value in (("--corpus", args.corpus), ("--queries", args.queries), ("--qrels", args.qrels))
            if value is None
        ]
        if missing:
            raise ConfigError(
                f"retrieval from explicit files needs --corpus, --queries and --qrels; missing {', '.join(missing)}"
            )
        corpus_paths, queries_path, qrels_path = args.corpus, args.queries, args.qrels
    return RetrievalData(read_beir_queries(queries_path), read_beir_corpus(corpus_paths), read_qrels(qrels_path))


def build_evaluator(args: argparse.Namespace, data: StsData | RetrievalData, *, model_similarity: str) -> Evaluator:
    """The evaluator for ``data``. Without ``--similarity``, STS reports all four functions with the
    model's own (``model_similarity``) as primary; retrieval ranks by the model's own only."""
    common: dict[str, Any] = {"batch_size": args.batch_size, "show_progress": args.progress, "name": args.name}
    if isinstance(data, StsData):
        return EmbeddingSimilarityEvaluator(
            data.sentences1,
            data.sentences2,
            data.scores,
            similarity_fn_names=args.similarity or list(SIMILARITY_NAMES),
            main_similarity=None if args.similarity else model_similarity,  # type: ignore[arg-type]
            **common,
        )
    return InformationRetrievalEvaluator(
        data.queries, data.corpus, data.relevant_docs, similarity_fn_names=args.similarity, **common
    )


def run(args: argparse.Namespace) -> int:
    """Handler of ``sbert-plugins evaluate``: read the data, load the model, evaluate, print (and write) metrics."""
    from sbert_plugins.encoder import SentenceEncoder

    if args.batch_size <= 0:
        raise ConfigError(f"--batch-size must be a positive integer, found {args.batch_size}")
    data = read_data(args)  # bad files fail before the model loads
    model = SentenceEncoder(args.model, device=args.device, precision=args.precision, **model_options(args))
    evaluator = build_evaluator(args, data, model_similarity=model.similarity_fn_name)
    metrics = evaluator(model)
    width = max(len(key) for key in metrics)
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:.6f}")
    print(f"primary metric: {evaluator.primary_metric} = {metrics[evaluator.primary_metric]:.6f}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "model": model.source,
            "task": "sts" if isinstance(data, StsData) else "retrieval",
            "primary_metric": evaluator.primary_metric,
            "metrics": metrics,
        }
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.output}")
    return 0
