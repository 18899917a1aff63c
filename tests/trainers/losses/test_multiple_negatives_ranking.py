"""MultipleNegativesRankingLoss: parity with the reference in every mode, direction, validation."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer, util
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, SentenceEncoder
from trainers.losses import MultipleNegativesRankingLoss

from .cases import ANCHORS, NEGATIVES, POSITIVES, SECOND_NEGATIVES
from .conftest import assert_matches_reference

REFERENCE_SIMILARITY = {"cosine": util.cos_sim, "dot": util.dot_score, "euclidean": util.euclidean_sim}
SYMMETRIC: dict[str, Any] = {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"}
GTE: dict[str, Any] = {"directions": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")}


@pytest.mark.parametrize(
    ("kwargs", "columns"),
    [
        ({}, (ANCHORS, POSITIVES)),
        ({}, (ANCHORS, POSITIVES, NEGATIVES)),
        ({}, (ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES)),
        ({"scale": 1.0, "similarity": "dot"}, (ANCHORS, POSITIVES, NEGATIVES)),
        ({"scale": 0.5, "similarity": "euclidean"}, (ANCHORS, POSITIVES)),
        (SYMMETRIC, (ANCHORS, POSITIVES)),
        (SYMMETRIC, (ANCHORS, POSITIVES, NEGATIVES)),
        (GTE, (ANCHORS, POSITIVES, NEGATIVES)),
        ({**GTE, "scale": 7.0}, (ANCHORS, POSITIVES)),
        ({"directions": ("query_to_doc", "doc_to_query")}, (ANCHORS, POSITIVES, NEGATIVES)),
    ],
)
def test_matches_the_reference(
    kwargs: dict[str, Any],
    columns: tuple[list[str], ...],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    reference_kwargs = dict(kwargs)
    reference_kwargs["similarity_fct"] = REFERENCE_SIMILARITY[reference_kwargs.pop("similarity", "cosine")]
    assert_matches_reference(
        MultipleNegativesRankingLoss(model, **kwargs),
        st_losses.MultipleNegativesRankingLoss(reference_model, **reference_kwargs),
        model,
        reference_model,
        columns,
        None,
    )


def test_value_is_cross_entropy_over_in_batch_candidates(model: SentenceEncoder) -> None:
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[1.0, 1.0], [0.0, 3.0]])
    value = MultipleNegativesRankingLoss(model, scale=2.0).compute_loss_from_embeddings([anchors, positives])
    cosines = F.normalize(anchors, dim=1) @ F.normalize(positives, dim=1).T
    expected = F.cross_entropy(2.0 * cosines, torch.tensor([0, 1]))
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)


def test_smaller_when_positives_are_closer_than_the_other_rows(model: SentenceEncoder) -> None:
    loss = MultipleNegativesRankingLoss(model)
    torch.manual_seed(0)
    anchors = torch.randn(6, 16)
    close = loss.compute_loss_from_embeddings([anchors, anchors + 0.05 * torch.randn(6, 16)])
    random = loss.compute_loss_from_embeddings([anchors, torch.randn(6, 16)])
    assert close < random


def test_a_hard_negative_close_to_the_anchor_raises_the_loss(model: SentenceEncoder) -> None:
    loss = MultipleNegativesRankingLoss(model)
    torch.manual_seed(0)
    anchors = torch.randn(4, 16)
    positives = anchors + 0.3 * torch.randn(4, 16)
    easy = loss.compute_loss_from_embeddings([anchors, positives, -anchors])
    hard = loss.compute_loss_from_embeddings([anchors, positives, anchors + 0.01 * torch.randn(4, 16)])
    assert hard > easy


def test_symmetric_mode_averages_both_directions(model: SentenceEncoder) -> None:
    torch.manual_seed(0)
    anchors, positives = torch.randn(5, 8), torch.randn(5, 8)
    forward = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings([anchors, positives])
    backward = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings([positives, anchors])
    symmetric = MultipleNegativesRankingLoss(model, **SYMMETRIC).compute_loss_from_embeddings([anchors, positives])
    assert symmetric.item() == pytest.approx((forward.item() + backward.item()) / 2, abs=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, r"scale must be a finite number > 0, found 0"),
        ({"scale": float("inf")}, "scale must be a finite number > 0"),
        ({"similarity": "cos"}, r"similarity must be one of \['cosine', 'dot', 'euclidean', 'manhattan'\]"),
        ({"directions": ()}, "directions must be a non-empty tuple"),
        ({"directions": "query_to_doc"}, "directions must be a non-empty tuple"),
        ({"directions": ("doc_to_query",)}, "must include 'query_to_doc'"),
        ({"directions": ("query_to_doc", "sideways")}, r"unknown directions \['sideways'\]"),
        ({"partition_mode": "split"}, r"partition_mode must be one of \['joint', 'per_direction'\]"),
        ({**GTE, "partition_mode": "per_direction"}, "use partition_mode='joint'"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(kwargs: dict[str, Any], message: str, model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match=message):
        MultipleNegativesRankingLoss(model, **kwargs)
