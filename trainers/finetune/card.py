"""What a finetune run leaves beside the model: ``metrics.json`` (machine-readable) and ``README.md``,
a model card recording the data, the settings and the before/after metrics."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from sbert_plugins import __version__
from trainers.finetune.config import FinetuneConfig
from trainers.finetune.evaluation import HEADLINE
from trainers.finetune.pairs import RetrievalData

METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"


def write_outputs(
    output: Path,
    *,
    config: FinetuneConfig,
    data: RetrievalData,
    split: tuple[Sequence[str], Sequence[str], Sequence[str]],
    base: Mapping[str, float],
    fine_tuned: Mapping[str, float],
    reranked: Mapping[str, Any] | None,
    stacks: Mapping[str, Any] | None = None,
    kept: str,
    training: Mapping[str, float],
    reranker_training: Mapping[str, float] | None = None,
    sparse: Mapping[str, Any] | None = None,
    timings: Mapping[str, float],
    cpu_timings: Mapping[str, float],
) -> dict[str, Any]:
    """Write ``metrics.json`` and the model card into ``output``; returns the metrics record."""
    train_ids, dev_ids, validation_ids = split
    report: dict[str, Any] = {
        "kept": kept,
        "base": dict(base),
        "fine_tuned": dict(fine_tuned),
        "reranked": dict(reranked["reranked"]) if reranked is not None else None,
        "fused": dict(reranked["fused"]) if reranked is not None else None,
        "fusion_weight": reranked["fusion_weight"] if reranked is not None else None,
        "stack": stacks["chosen"] if stacks is not None else None,
        "stacks": dict(stacks["stacks"]) if stacks is not None else None,
        "data": {
            "source": data.source,
            "pairs": data.pairs,
            "duplicates_removed": data.duplicates,
            "queries": len(data.queries),
            "train_queries": len(train_ids),
            "dev_queries": len(dev_ids),
            "validation_queries": len(validation_ids),
            "corpus_documents": len(data.corpus),
            "training_rows": int(training.get("rows", 0)),
            "negatives_per_row": int(training.get("negatives_per_row", 0)),
        },
        "training": {k: v for k, v in training.items() if k not in ("rows", "negatives_per_row")},
        "reranker_training": dict(reranker_training) if reranker_training is not None else None,
        "sparse": dict(sparse) if sparse is not None else None,
        "timings_s": dict(timings),
        "cpu_s": dict(cpu_timings),
        "config": config.model_dump(mode="json"),
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (output / CARD_FILE).write_text(render_card(report), encoding="utf-8")
    return report


def reranked_rows(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, float]]]:
    """(row name, dev metrics) of the re-ranker alone and of the score mix, when the run trained one."""
    if not report.get("reranked"):
        return []
    return [
        (f"{report['kept']} + re-ranker", report["reranked"]),
        (f"{report['kept']} + re-ranker mix (weight {report['fusion_weight']:.2f})", report["fused"]),
    ]


def sparse_rows(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, float]]]:
    """(row name, dev metrics) of the learned sparse base and fine-tuned models, when the run trained one."""
    sparse = report.get("sparse")
    if not sparse:
        return []
    return [("sparse base", sparse["base"]), (f"sparse fine-tuned (kept: {sparse['kept']})", sparse["fine_tuned"])]


def stack_rows(report: Mapping[str, Any]) -> list[tuple[str, float, Mapping[str, float]]]:
    """(stack, validation nDCG@10, dev metrics) of every retrieval stack the run compared, chosen one first."""
    stacks = report.get("stacks") or {}
    chosen = report.get("stack")
    ordered = sorted(stacks, key=lambda name: name != chosen)
    return [(name, stacks[name]["validation"]["ndcg@10"], stacks[name]["dev"]) for name in ordered]


def _stack_lines(report: Mapping[str, Any]) -> list[str]:
    rows = stack_rows(report)
    if not rows:
        return []
    lines = [
        "",
        f"Retrieval stacks, chosen by validation nDCG@10 ({report['data']['validation_queries']} queries) and "
        "recorded in `stack.json`:",
        "",
        "| stack | validation ndcg@10 | " + " | ".join(f"dev {k}" for k in HEADLINE) + " |",
        "|---|---|" + "---|" * len(HEADLINE),
    ]
    for name, validation, dev in rows:
        shown = f"**{name}** (chosen)" if name == report.get("stack") else name
        lines.append(f"| {shown} | {validation:.4f} | " + " | ".join(f"{dev[k]:.4f}" for k in HEADLINE) + " |")
    return lines


def render_card(report: Mapping[str, Any]) -> str:
    """The model card (Markdown with a YAML header) for a :func:`write_outputs` record."""
    config, data = report["config"], report["data"]
    cached = report["training"].get("cached_loss")
    loss_name = "CachedMultipleNegativesRankingLoss" if cached else "MultipleNegativesRankingLoss"
    base_model = config["base"] or "sentence-transformers/all-MiniLM-L6-v2"
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "tags: [sentence-transformers, sentence-similarity, sbert-plugins, retrieval]",
        f"base_model: {base_model}",
        "---",
        "",
        f"# Retrieval model fine-tuned from {base_model}",
        "",
        f"Made by `sbert-plugins finetune` (sbert-plugins {__version__}). Kept: the **{report['kept']}** model, "
        "the better of the two on the dev split by nDCG@10.",
        "",
        "## Dev metrics",
        "",
        f"{data['dev_queries']} held-out queries retrieving from all {data['corpus_documents']:,} documents.",
        "",
        "| model | " + " | ".join(HEADLINE) + " |",
        "|---|" + "---|" * len(HEADLINE),
    ]
    rows = [("base", report["base"]), ("fine-tuned", report["fine_tuned"])]
    rows += [(f"{name}, top {config['rerank_top_k']}", metrics) for name, metrics in reranked_rows(report)]
    rows += sparse_rows(report)
    for name, metrics in rows:
        lines.append(f"| {name} | " + " | ".join(f"{metrics[k]:.4f}" for k in HEADLINE) + " |")
    lines += _stack_lines(report)
    lines += [
        "",
        "## Data",
        "",
        f"- Source: `{data['source']}`",
        f"- Pairs: {data['pairs']:,} distinct (query, positive) pairs; {data['duplicates_removed']} duplicates removed",
        f"- Queries: {data['train_queries']} for training, {data['dev_queries']} held out (seed {config['seed']})"
        + (
            f", {data['validation_queries']} kept from training to choose the re-ranker's mixing weight"
            if data.get("validation_queries")
            else ""
        ),
        f"- Training rows: {data['training_rows']:,}, each with {data['negatives_per_row']} hard negative(s) "
        f"mined by the base model (skipping the top {config['skip_top']} ranks and anything within "
        f"{config['negative_margin']} of the positive's score)",
        "",
        "## Training",
        "",
        f"{loss_name}, no-duplicates batches of {config['batch_size']}, {config['epochs']} epoch(s), "
        f"learning rate {config['learning_rate']}.",
        "",
    ]
    reranker = report.get("reranker_training")
    if reranker:
        lines += [
            f"Re-ranker: a cross-encoder from {base_model} with a fresh head, MultipleNegativesRankingLoss "
            f"(cross-encoder form) on {int(reranker['rows']):,} rows, {int(reranker.get('title_rows', 0)):,} of "
            "them (title, text) pairs of corpus documents"
            + (
                f"; trained as a correction of the kept bi-encoder's cosines (times {scale})."
                if (scale := config.get("reranker_first_stage_scale"))
                else "."
            ),
            "",
        ]
    lines += [
        "| phase | wall seconds | process CPU seconds |",
        "|---|---|---|",
    ]
    cpu = report.get("cpu_s", {})
    lines += [
        f"| {name} | {seconds:.1f} | {cpu.get(name, float('nan')):.1f} |"
        for name, seconds in report["timings_s"].items()
    ]
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from sbert_plugins import SentenceEncoder",
        "",
        'model = SentenceEncoder("path/to/this/folder")',
        'embeddings = model.encode_documents(["A passage to index."])',
        "```",
        "",
        "The folder is in the sentence-transformers format: `SentenceTransformer(path)` loads it too.",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(config, indent=2),
        "```",
        "",
        "## Framework versions",
        "",
        f"- Python {platform.python_version()}, sbert-plugins {__version__}, "
        f"Transformers {transformers.__version__}, PyTorch {torch.__version__}",
        "",
    ]
    return "\n".join(lines)
