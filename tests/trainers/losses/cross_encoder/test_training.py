"""The trainer trains a CrossEncoder with these losses: the raw text columns reach the loss, the model learns
the training pairs, and the saved folder loads in both libraries with the same scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers import CrossEncoder as ReferenceCrossEncoder

from sbert_plugins.cross_encoder import CrossEncoder
from trainers import Trainer, TrainingConfig
from trainers.losses import cross_encoder as losses

from .conftest import NEGATIVES, POSITIVES, QUERIES, SECOND_NEGATIVES


def margin(model: CrossEncoder) -> float:
    """Mean (positive - negative) logit over the training queries."""
    positive = model.predict(list(zip(QUERIES, POSITIVES, strict=True)), activation="identity")
    negative = model.predict(list(zip(QUERIES, NEGATIVES, strict=True)), activation="identity")
    return float(np.mean(positive - negative))


def config(tmp_path: Path, **overrides: Any) -> TrainingConfig:
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "epochs": 15,
        "batch_size": 4,
        "learning_rate": 2e-3,
        "show_progress": False,
        "seed": 0,
        **overrides,
    }
    return TrainingConfig(**settings)


def test_binary_cross_entropy_training_separates_positives_and_saves_a_loadable_model(
    model: CrossEncoder, tmp_path: Path
) -> None:
    rows = [{"query": q, "document": p, "label": 1.0} for q, p in zip(QUERIES, POSITIVES, strict=True)]
    rows += [{"query": q, "document": n, "label": 0.0} for q, n in zip(QUERIES, NEGATIVES, strict=True)]
    before = margin(model)
    Trainer(model, loss=losses.BinaryCrossEntropyLoss(model), train_data=rows, config=config(tmp_path)).train()
    after = margin(model)
    assert after > before + 1.0, (before, after)

    saved = tmp_path / "out"
    pairs = list(zip(QUERIES, POSITIVES + NEGATIVES, strict=False))
    expected = model.predict(pairs)
    np.testing.assert_allclose(CrossEncoder(saved, device="cpu").predict(pairs), expected, atol=1e-6)
    np.testing.assert_allclose(ReferenceCrossEncoder(str(saved), device="cpu").predict(pairs), expected, atol=1e-5)


def test_lambda_loss_trains_from_wide_rows(model: CrossEncoder, tmp_path: Path) -> None:
    rows = [
        {"query": q, "doc_1": p, "doc_2": n, "doc_3": m, "label": [2.0, 0.0, 0.0]}
        for q, p, n, m in zip(QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES, strict=True)
    ]
    before = margin(model)
    # Pairwise weights of a 3-document list are small: this loss needs a larger step than the BCE test.
    settings = config(tmp_path, learning_rate=1e-2, epochs=20)
    Trainer(model, loss=losses.LambdaLoss(model), train_data=rows, config=settings).train()
    assert margin(model) > before + 0.5
