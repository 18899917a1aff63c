"""GlobalOrthogonalRegularizationLoss: reference parity (the sum of its two terms), hand-made values, errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer, util
from sentence_transformers import losses as st_losses
from torch import Tensor, nn

from sbert_plugins import ConfigError, SentenceEncoder
from trainers.losses import GlobalOrthogonalRegularizationLoss

from .cases import ANCHORS, NEGATIVES, POSITIVES
from .conftest import assert_matches_reference


class _Summed(nn.Module):
    """The reference returns {"gor_mean": ..., "gor_second_moment": ...}; the Trainer adds them up."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, features: Any, labels: Tensor | None) -> Tensor:
        return sum(self.loss(features, labels).values())  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("kwargs", "columns"),
    [
        ({}, (ANCHORS,)),
        ({}, (ANCHORS, POSITIVES, NEGATIVES)),
        ({"mean_weight": 0.5, "second_moment_weight": 2.0, "aggregation": "sum"}, (ANCHORS, POSITIVES)),
        ({"mean_weight": 0.0}, (ANCHORS, POSITIVES)),
        ({"similarity": "dot", "second_moment_weight": 0.0}, (ANCHORS, POSITIVES)),
    ],
)
def test_matches_the_reference(
    kwargs: dict[str, Any],
    columns: tuple[list[str], ...],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    reference_kwargs = dict(kwargs)
    if reference_kwargs.pop("similarity", "cosine") == "dot":
        reference_kwargs["similarity_fct"] = util.dot_score
    assert_matches_reference(
        GlobalOrthogonalRegularizationLoss(model, **kwargs),
        _Summed(st_losses.GlobalOrthogonalRegularizationLoss(reference_model, **reference_kwargs)),
        model,
        reference_model,
        columns,
        None,
    )


def test_value_by_hand(model: SentenceEncoder) -> None:
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    cos = F.normalize(x, dim=1) @ F.normalize(x, dim=1).T
    off = cos[~torch.eye(3, dtype=torch.bool)]
    expected = off.mean() ** 2 + F.relu((off**2).mean() - 0.25)
    value = GlobalOrthogonalRegularizationLoss(model).compute_loss_from_embeddings([x])
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)


def test_spread_out_embeddings_score_lower_than_clustered_ones(model: SentenceEncoder) -> None:
    loss = GlobalOrthogonalRegularizationLoss(model)
    torch.manual_seed(0)
    spread = torch.linalg.qr(torch.randn(16, 16))[0][:8]  # orthonormal rows
    clustered = torch.ones(8, 16) + 0.1 * torch.randn(8, 16)
    assert loss.compute_loss_from_embeddings([spread]) < 1e-6 < loss.compute_loss_from_embeddings([clustered])


def test_one_row_gives_a_differentiable_zero(model: SentenceEncoder) -> None:
    x = torch.randn(1, 8, requires_grad=True)
    value = GlobalOrthogonalRegularizationLoss(model).compute_loss_from_embeddings([x])
    value.backward()
    assert value.item() == 0.0 and x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean_weight": 0.0, "second_moment_weight": 0.0}, "both 0"),
        ({"mean_weight": -1.0}, "mean_weight must be a finite number >= 0"),
        ({"aggregation": "max"}, r"aggregation must be one of \['mean', 'sum'\]"),
        ({"similarity": "cos"}, "similarity must be one of"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any], message: str, model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match=message):
        GlobalOrthogonalRegularizationLoss(model, **kwargs)
