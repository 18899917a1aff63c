"""MegaBatchMarginLoss: reference parity in both versions, hand-made values, errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, SentenceEncoder
from trainers.losses import MegaBatchMarginLoss

from .cases import ANCHORS, POSITIVES
from .conftest import assert_matches_reference


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mini_batch_size": 3},
        {"mini_batch_size": 2, "positive_margin": 0.9, "negative_margin": 0.1},
        {"use_mini_batched_version": False},
    ],
)
def test_matches_the_reference(
    kwargs: dict[str, Any], model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        MegaBatchMarginLoss(model, **kwargs),
        st_losses.MegaBatchMarginLoss(reference_model, **kwargs),
        model,
        reference_model,
        (ANCHORS, POSITIVES),
        None,
    )


def test_value_is_the_two_hinges_with_the_hardest_in_batch_negative(model: SentenceEncoder) -> None:
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    positives = torch.tensor([[1.0, 0.5], [0.2, 1.0], [0.0, 1.0]])
    cos = F.normalize(anchors, dim=1) @ F.normalize(positives, dim=1).T
    hardest = cos.masked_fill(torch.eye(3, dtype=torch.bool), -2.0).max(dim=1).values
    expected = (F.relu(0.8 - cos.diagonal()) + F.relu(hardest - 0.3)).mean()
    for mini_batch_size in (1, 2, 50):
        loss = MegaBatchMarginLoss(model, mini_batch_size=mini_batch_size)
        assert loss.compute_loss_from_embeddings([anchors, positives]).item() == pytest.approx(
            expected.item(), abs=1e-6
        )


def test_a_batch_of_one_row_has_only_the_positive_hinge(model: SentenceEncoder) -> None:
    value = MegaBatchMarginLoss(model).compute_loss_from_embeddings(
        [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])]
    )
    assert value.item() == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positive_margin": 1.5}, r"positive_margin must be a cosine in \[-1, 1\]"),
        ({"negative_margin": 0.9}, r"negative_margin \(0.9\) must be below positive_margin \(0.8\)"),
        ({"use_mini_batched_version": 1}, "use_mini_batched_version must be True or False"),
        ({"mini_batch_size": 0}, "mini_batch_size must be an integer >= 1"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any], message: str, model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match=message):
        MegaBatchMarginLoss(model, **kwargs)
