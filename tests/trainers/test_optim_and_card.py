from __future__ import annotations

import math
from pathlib import Path

import pytest

from sbert_plugins import SentenceEncoder
from trainers import TrainingConfig, load_datasets, losses
from trainers.model_card import write_model_card
from trainers.optim import WarmupSchedule, build_optimizer, trainable_parameters, warmup_steps


def test_warmup_then_linear_cosine_or_constant() -> None:
    linear = WarmupSchedule("linear", 2, 10)
    assert [linear(s) for s in (0, 1, 2, 6, 10)] == [0.0, 0.5, 1.0, 0.5, 0.0]
    cosine = WarmupSchedule("cosine", 2, 10)
    assert cosine(6) == pytest.approx(0.5) and cosine(10) == pytest.approx(0.0) and cosine(2) == 1.0
    assert WarmupSchedule("constant", 2, 10)(9) == 1.0
    assert warmup_steps(TrainingConfig(warmup_ratio=0.1), 360) == 36
    assert warmup_steps(TrainingConfig(warmup_ratio=0.1), 361) == math.ceil(36.1)
    assert warmup_steps(TrainingConfig(warmup_ratio=0.1, warmup_steps=5), 361) == 5


def test_no_weight_decay_on_biases_and_layer_norms(tiny_encoder: SentenceEncoder) -> None:
    loss = losses.SoftmaxLoss(tiny_encoder, num_labels=3)
    named = trainable_parameters([tiny_encoder, loss])
    assert len(named) == len(list(tiny_encoder.parameters())) + len(list(loss.classifier.parameters()))
    optimizer = build_optimizer(named, TrainingConfig(weight_decay=0.05))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in named}
    assert all(p.ndim == 2 for p in decayed["params"])
    assert any("LayerNorm" in names[id(p)] for p in plain["params"])
    assert all(p.ndim == 1 for p in plain["params"])


def test_model_card_names_base_model_losses_data_config_and_results(
    tiny_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    datasets = load_datasets(
        {"nli": [{"premise": "a", "hypothesis": "b", "label": 2}] * 3, "pairs": [{"q": "x", "d": "y"}] * 5}
    )
    card_losses = {
        "nli": losses.SoftmaxLoss(tiny_encoder, num_labels=3),
        "pairs": losses.MultipleNegativesRankingLoss(tiny_encoder),
    }
    tiny_encoder.source = "org/base-model"
    path = write_model_card(
        tmp_path / "README.md",
        model=tiny_encoder,
        datasets=datasets,
        losses=card_losses,
        config=TrainingConfig(epochs=2, learning_rate=3e-5),
        metrics={"train_loss": 0.25, "train_steps": 4.0},
        eval_metrics={"sts-dev_spearman_cosine": 0.8123},
    )
    card = path.read_text()
    assert card.startswith("---\n") and "base_model: org/base-model" in card
    assert "| nli | 3 | premise, hypothesis | integer |" in card
    assert "| pairs | 5 | q, d | none |" in card
    assert "`SoftmaxLoss`" in card and '"num_labels": 3' in card and "`MultipleNegativesRankingLoss`" in card
    assert '"learning_rate": 0.00003' in card and '"epochs": 2' in card
    assert "| sts-dev_spearman_cosine | 0.8123 |" in card and "| train_steps | 4 |" in card
    assert "Embedding dimension: 32" in card
