"""The symmetric in-batch losses: equal to the reference's (value and gradients), plain and cached."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer, util
from sentence_transformers import losses as st_losses

from sbert_plugins import SentenceEncoder
from trainers.losses import (
    CachedMultipleNegativesSymmetricRankingLoss,
    MultipleNegativesRankingLoss,
    MultipleNegativesSymmetricRankingLoss,
)

from .cases import ANCHORS, NEGATIVES, POSITIVES
from .conftest import assert_matches_reference

PAIRS = (ANCHORS, POSITIVES)
TRIPLETS = (ANCHORS, POSITIVES, NEGATIVES)


@pytest.mark.parametrize(
    ("kwargs", "columns"),
    [({}, PAIRS), ({}, TRIPLETS), ({"scale": 1.0, "similarity": "dot"}, PAIRS)],
)
def test_matches_the_reference(
    kwargs: dict[str, Any], columns: tuple[list[str], ...], model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    reference_kwargs: dict[str, Any] = {"scale": kwargs.get("scale", 20.0)}
    if kwargs.get("similarity") == "dot":
        reference_kwargs["similarity_fct"] = util.dot_score
    assert_matches_reference(
        MultipleNegativesSymmetricRankingLoss(model, **kwargs),
        st_losses.MultipleNegativesSymmetricRankingLoss(reference_model, **reference_kwargs),
        model,
        reference_model,
        columns,
        None,
    )


@pytest.mark.parametrize(("mini_batch_size", "columns"), [(1, PAIRS), (3, TRIPLETS)])
def test_cached_matches_the_reference(
    mini_batch_size: int, columns: tuple[list[str], ...], model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        CachedMultipleNegativesSymmetricRankingLoss(model, mini_batch_size=mini_batch_size),
        st_losses.CachedMultipleNegativesSymmetricRankingLoss(reference_model, mini_batch_size=mini_batch_size),
        model,
        reference_model,
        columns,
        None,
    )


def test_is_the_mean_of_both_directions_on_hand_made_embeddings(model: SentenceEncoder) -> None:
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    positives = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.5, 0.4]])
    symmetric = MultipleNegativesSymmetricRankingLoss(model).compute_loss_from_embeddings([anchors, positives])
    forward = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings([anchors, positives])
    backward = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings([positives, anchors])
    torch.testing.assert_close(symmetric, (forward + backward) / 2)
    assert backward > 0 and not torch.isclose(forward, backward)
