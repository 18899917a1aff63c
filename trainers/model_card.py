"""The model card (``README.md``) written beside a trained model: what it was trained from, on what, how,
and how well it scored."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn

from sbert_plugins import SparseEncoder, __version__
from trainers.config import TrainingConfig
from trainers.data import TrainingDataset


def loss_description(loss: nn.Module) -> dict[str, Any]:
    """A loss's class name and its ``get_config_dict()`` (when it has one)."""
    config: Any = {}
    get_config = getattr(loss, "get_config_dict", None)
    if callable(get_config):
        config = get_config()
    return {"name": type(loss).__name__, "config": config}


def render_model_card(
    *,
    model: nn.Module,
    datasets: Mapping[str, TrainingDataset],
    losses: Mapping[str, nn.Module],
    config: TrainingConfig,
    metrics: Mapping[str, float],
    eval_metrics: Mapping[str, float],
) -> str:
    """The model card text (Markdown with a YAML header the Hugging Face Hub reads).

    Args:
        model: the trained model (its ``source`` attribute names the base model when it has one).
        datasets, losses: the training datasets and the loss of each, keyed by dataset name.
        config: the run's training config.
        metrics: the final training metrics (loss, steps, throughput).
        eval_metrics: the evaluation results the card reports (may be empty).
    """
    base = getattr(model, "source", None)
    total_rows = sum(len(d) for d in datasets.values())
    # A SparseEncoder is also a SentenceEncoder: test for it first.
    sparse = isinstance(model, SparseEncoder)
    encoder_class = "SparseEncoder" if sparse else "SentenceEncoder"
    lines = [
        "---",
        "library_name: sentence-transformers",
        f"pipeline_tag: {'feature-extraction' if sparse else 'sentence-similarity'}",
        "tags:",
        "- sentence-transformers",
        *(["- sparse-encoder", "- sparse"] if sparse else ["- sentence-similarity"]),
        "- sbert-plugins",
    ]
    if base:
        lines.append(f"base_model: {base}")
    lines += ["---", "", f"# {type(model).__name__} fine-tuned{f' from {base}' if base else ''}", ""]
    lines += [
        f"Trained with sbert-plugins {__version__} on {total_rows:,} rows "
        f"({len(datasets)} dataset{'s' if len(datasets) > 1 else ''}) for {int(metrics.get('train_steps', 0))} steps.",
        "",
        "## Model",
        "",
        f"- Base model: {base or 'unknown (built in code)'}",
    ]
    for label, attribute in (
        ("Embedding dimension", "embedding_dim"),
        ("Maximum sequence length", "max_seq_length"),
        ("Similarity function", "similarity_fn_name"),
    ):
        value = getattr(model, attribute, None)
        if value is not None:
            lines.append(f"- {label}: {value}")
    if isinstance(model, nn.Sequential):
        lines.append(f"- Modules: {' → '.join(type(m).__name__ for m in model)}")
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        f"from sbert_plugins import {encoder_class}",
        "",
        f'model = {encoder_class}("path/to/this/folder")',
    ]
    if sparse:
        lines += ['vectors = model.encode_documents(["A first text.", "A second one."])  # sparse torch tensor', "```"]
    else:
        lines += ['embeddings = model.encode(["A first sentence.", "A second one."])', "```"]
    reference_class = "SparseEncoder" if sparse else "SentenceTransformer"
    lines += ["", f"The folder is in the sentence-transformers format, so `{reference_class}(path)` loads it too.", ""]

    lines += ["## Training data", "", "| dataset | rows | text columns | label | source |", "|---|---|---|---|---|"]
    for name, dataset in datasets.items():
        label = "none" if dataset.labels is None else _label_kind(dataset)
        lines.append(f"| {name} | {len(dataset):,} | {', '.join(dataset.columns)} | {label} | {dataset.source} |")
    lines += ["", "## Losses", ""]
    for name, loss in losses.items():
        described = loss_description(loss)
        lines.append(f"- **{name}**: `{described['name']}` {json.dumps(described['config'], default=str)}")
    lines += ["", "## Training configuration", "", "```json", config.to_json(), "```", ""]

    lines += ["## Results", "", "| metric | value |", "|---|---|"]
    for key, value in {**metrics, **eval_metrics}.items():
        lines.append(f"| {key} | {_number(value)} |")
    lines += [
        "",
        "## Framework versions",
        "",
        f"- Python: {platform.python_version()}",
        f"- sbert-plugins: {__version__}",
        f"- Transformers: {transformers.__version__}",
        f"- PyTorch: {torch.__version__}",
        "",
    ]
    return "\n".join(lines)


def write_model_card(path: Path, **card: Any) -> Path:
    """Render the card (see :func:`render_model_card`) and write it to ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(**card), encoding="utf-8")
    return path


def _label_kind(dataset: TrainingDataset) -> str:
    labels = dataset.labels
    if labels is None:
        return "none"
    kind = "integer" if labels.dtype == torch.long else "float"
    return f"{kind} vector ({labels.shape[1]})" if labels.dim() == 2 else kind


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4f}" if abs(value) >= 1e-3 else f"{value:.3e}"
