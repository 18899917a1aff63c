"""``sbert-plugins train``: fine-tune a model on JSONL / CSV / TSV files from the command line.

Registered through the ``sbert_plugins.cli`` entry point (see :mod:`sbert_plugins.cli`)::

    sbert-plugins train --model sentence-transformers/all-MiniLM-L6-v2 --train train.jsonl \\
        --loss CosineSimilarityLoss --epochs 1 --batch-size 16 --lr 2e-5 --warmup-ratio 0.1 \\
        --eval dev.jsonl --output out/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from torch import nn

from sbert_plugins.cli import add_model_arguments, model_options
from sbert_plugins.device import PRECISIONS
from sbert_plugins.errors import ConfigError, DataError
from trainers import losses
from trainers.config import TrainingConfig
from trainers.data import TrainingDataset, load_dataset

# The flags' defaults, applied only where neither the flag nor the --config file gives a value (the parser's
# own defaults are None, so a typed flag can be told from an untyped one).
FLAG_DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "batch_size": 16,
    "learning_rate": 2e-5,
    "warmup_ratio": 0.1,
    "precision": "fp32",
    "batch_sampler": "random",
    "seed": 42,
}
# The losses the command can train with: the sentence-embedding ones, then those for a SparseEncoder.
TRAINING_LOSSES = (*losses.EMBEDDING_LOSSES, *losses.SPARSE_TRAINING_LOSSES)
_FLAG_DESTS = {  # TrainingConfig field -> argparse dest
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "lr",
    "warmup_ratio": "warmup_ratio",
    "precision": "precision",
    "batch_sampler": "sampler",
    "seed": "seed",
}


def register(subparsers: Any) -> None:
    """Add the ``train`` sub-command to the ``sbert-plugins`` parser."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a model on JSONL/CSV/TSV files with named columns (texts in order, then 'label')",
        description=(
            "Fine-tune a model. Each --train file has named columns (JSON keys or a header line): the text "
            "columns in the order the loss expects them, and an optional 'label'. --precision picks the "
            "mixed precision of training (bf16 works on CPU; fp16 needs CUDA); the weights stay float32."
        ),
    )
    add_model_arguments(parser, precisions=PRECISIONS)
    parser.add_argument("--train", required=True, nargs="+", type=Path, help="training file(s); one dataset each")
    parser.add_argument(
        "--loss",
        required=True,
        help=f"loss class, one of: {', '.join(TRAINING_LOSSES)} (the last {len(losses.SPARSE_TRAINING_LOSSES)} "
        "train a SparseEncoder folder given as --model)",
    )
    parser.add_argument(
        "--loss-args",
        default="{}",
        help="JSON keyword arguments of the loss, e.g. '{\"num_labels\": 3}', or for SpladeLoss "
        '\'{"loss": "SparseMultipleNegativesRankingLoss", "document_regularizer_weight": 3e-5}\'',
    )
    parser.add_argument("--output", required=True, type=Path, help="folder for the trained model and its card")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (default 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="examples per step (default 16)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-5)")
    parser.add_argument(
        "--warmup-ratio", type=float, default=None, help="share of steps for linear warmup (default 0.1)"
    )
    parser.add_argument("--eval", type=Path, default=None, help="evaluation file: scored pairs, 0/1 pairs or triplets")
    parser.add_argument("--eval-steps", type=int, default=None, help="evaluate every N steps (default: at the end)")
    parser.add_argument("--save-steps", type=int, default=None, help="write a checkpoint every N steps")
    parser.add_argument("--resume-from", default=None, help="a checkpoint folder, or 'latest'")
    parser.add_argument(
        "--sampler",
        default=None,
        choices=["random", "no_duplicates", "group_by_label"],
        help="batch sampler (default random)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 42)")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a TrainingConfig JSON file: its settings apply where no flag is typed (typed flags win; "
        "untyped flags' defaults never override it)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_train, precision=None)  # typed or not is told apart; see FLAG_DEFAULTS


def resolve_loss_class(name: str) -> type[nn.Module]:
    """The loss class called ``name`` (case, ``_`` and ``-`` ignored; the ``Loss`` suffix may be left out).

    Raises:
        ConfigError: no such loss (the message lists them).
    """
    wanted = name.lower().replace("_", "").replace("-", "").removesuffix("loss")
    for candidate in TRAINING_LOSSES:
        if candidate.lower().removesuffix("loss") == wanted:
            cls: type[nn.Module] = getattr(losses, candidate)
            return cls
    raise ConfigError(f"unknown loss {name!r}; choose one of: {', '.join(TRAINING_LOSSES)}")


def build_evaluator(dataset: TrainingDataset) -> Any:
    """An evaluator matching the shape of ``dataset``: scored pairs → EmbeddingSimilarityEvaluator,
    0/1 pairs → BinaryClassificationEvaluator, text triplets → TripletEvaluator.

    Raises:
        DataError: any other shape.
    """
    from sbert_plugins.evaluation import (
        BinaryClassificationEvaluator,
        EmbeddingSimilarityEvaluator,
        TripletEvaluator,
    )

    columns, labels = dataset.texts, dataset.labels
    if len(columns) == 2 and labels is not None and labels.dim() == 1:
        values = labels.tolist()
        if labels.dtype.is_floating_point or not set(values) <= {0, 1}:
            return EmbeddingSimilarityEvaluator(columns[0], columns[1], [float(v) for v in values], name="eval")
        return BinaryClassificationEvaluator(columns[0], columns[1], [int(v) for v in values], name="eval")
    if len(columns) == 3 and labels is None:
        return TripletEvaluator(columns[0], columns[1], columns[2], name="eval")
    raise DataError(
        f"{dataset.source}: an evaluation file needs two text columns with a score or a 0/1 label, "
        f"or three text columns (anchor, positive, negative) without label; found columns {list(dataset.columns)}"
        f" and {'no label' if labels is None else 'labels'}"
    )


def build_config(args: argparse.Namespace) -> TrainingConfig:
    """The TrainingConfig of a ``train`` command: each setting from its flag when the flag was typed, else
    from the ``--config`` file when the file sets it, else the flag's default (:data:`FLAG_DEFAULTS`)."""
    from_file: dict[str, Any] = {}
    if args.config is not None:
        from_file = TrainingConfig.load(args.config).model_dump(exclude_unset=True)
    typed = {field: getattr(args, dest) for field, dest in _FLAG_DESTS.items()}
    settings = {**FLAG_DEFAULTS, **from_file}
    settings.update({field: value for field, value in typed.items() if value is not None})
    settings["output_dir"] = str(args.output)
    if args.quiet:
        settings["show_progress"] = False
    optional = {"eval_steps": args.eval_steps, "save_steps": args.save_steps, "resume_from": args.resume_from}
    settings.update({key: value for key, value in optional.items() if value is not None})
    return TrainingConfig(**settings)


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``sbert-plugins train``: load data and model, train, print the final metrics as JSON.

    A sparse loss (SpladeLoss, CSRLoss, ...) loads ``--model`` as a SparseEncoder.
    """
    from sbert_plugins.encoder import SentenceEncoder
    from sbert_plugins.sparse import SparseEncoder
    from trainers.trainer import Trainer

    config = build_config(args)
    loss_class = resolve_loss_class(args.loss)
    sparse = bool(getattr(loss_class, "sparse", False))
    if sparse and args.eval is not None:
        raise ConfigError(
            f"--eval builds a dense evaluator; {loss_class.__name__} trains a SparseEncoder: drop --eval and "
            "evaluate with sbert_plugins.evaluation.SparseInformationRetrievalEvaluator"
        )
    try:
        loss_args = json.loads(args.loss_args)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--loss-args is not valid JSON: {exc.msg}") from exc
    if not isinstance(loss_args, dict):
        raise ConfigError("--loss-args must be a JSON object of keyword arguments")
    names = [path.stem for path in args.train]
    if len(set(names)) != len(names):
        names = [f"{i}-{name}" for i, name in enumerate(names)]
    datasets = {name: load_dataset(path, name=name) for name, path in zip(names, args.train)}
    evaluator = build_evaluator(load_dataset(args.eval, name="eval")) if args.eval is not None else None

    encoder_class = SparseEncoder if sparse else SentenceEncoder
    model = encoder_class(args.model, device=args.device, **model_options(args))
    loss = loss_class(model, **loss_args)
    trainer = Trainer(model, loss=loss, train_data=datasets, config=config, evaluator=evaluator)
    metrics = trainer.train()
    print(json.dumps({"output": str(args.output), **metrics}, indent=2))
    return 0
