"""CosineSimilarityLoss: parity with the reference, direction, label checks."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import DataError, SentenceEncoder
from trainers.losses import CosineSimilarityLoss

from .cases import ANCHORS, NEGATIVES, POSITIVES, SCORES
from .conftest import assert_matches_reference


def test_matches_the_reference(model: SentenceEncoder, reference_model: SentenceTransformer) -> None:
    assert_matches_reference(
        CosineSimilarityLoss(model),
        st_losses.CosineSimilarityLoss(reference_model),
        model,
        reference_model,
        (ANCHORS, NEGATIVES),
        SCORES,
    )


def test_matches_the_reference_with_integer_labels(
    model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    labels = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
    assert_matches_reference(
        CosineSimilarityLoss(model),
        st_losses.CosineSimilarityLoss(reference_model),
        model,
        reference_model,
        (ANCHORS, POSITIVES),
        labels,
    )


def test_value_is_the_mse_of_cosines(model: SentenceEncoder) -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # cosines 1 and 0
    value = CosineSimilarityLoss(model).compute_loss_from_embeddings([a, b], torch.tensor([0.5, 0.5]))
    assert value.item() == pytest.approx(0.25)


def test_smaller_when_cosines_approach_the_labels(model: SentenceEncoder) -> None:
    loss = CosineSimilarityLoss(model)
    anchor = torch.randn(4, 8)
    labels = torch.ones(4)
    far = loss.compute_loss_from_embeddings([anchor, torch.randn(4, 8)], labels)
    near = loss.compute_loss_from_embeddings([anchor, anchor + 0.01 * torch.randn(4, 8)], labels)
    assert near < far


def test_labels_outside_the_cosine_range_are_rejected(model: SentenceEncoder) -> None:
    embeddings = [torch.randn(3, 8), torch.randn(3, 8)]
    with pytest.raises(DataError, match=r"4\.2 at row 1 is invalid; expected float scores in \[-1, 1\]; .*divide by 5"):
        CosineSimilarityLoss(model).compute_loss_from_embeddings(embeddings, torch.tensor([0.5, 4.2, 1.0]))
    with pytest.raises(DataError, match="nan"):
        CosineSimilarityLoss(model).compute_loss_from_embeddings(embeddings, torch.tensor([0.5, float("nan"), 1.0]))
    with pytest.raises(DataError, match=r"torch\.Tensor"):
        CosineSimilarityLoss(model).compute_loss_from_embeddings(embeddings, [0.5, 0.2, 1.0])  # type: ignore[arg-type]
