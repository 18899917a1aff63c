"""TripletLoss: parity with the reference for each distance, direction, validation."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses
from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric

from sbert_plugins import ConfigError, SentenceEncoder
from trainers.losses import TripletLoss

from .cases import ANCHORS, NEGATIVES, POSITIVES
from .conftest import assert_matches_reference

METRICS = {
    "cosine": TripletDistanceMetric.COSINE,
    "euclidean": TripletDistanceMetric.EUCLIDEAN,
    "manhattan": TripletDistanceMetric.MANHATTAN,
}


@pytest.mark.parametrize(
    ("distance", "margin"),
    [("euclidean", 5.0), ("euclidean", 0.5), ("cosine", 0.1), ("cosine", 0.01), ("manhattan", 2.0)],
)
def test_matches_the_reference(
    distance: str, margin: float, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    value = assert_matches_reference(
        TripletLoss(model, distance=distance, margin=margin),  # type: ignore[arg-type]
        st_losses.TripletLoss(reference_model, distance_metric=METRICS[distance], triplet_margin=margin),
        model,
        reference_model,
        (ANCHORS, POSITIVES, NEGATIVES),
        None,
    )
    assert value > 0


@pytest.mark.parametrize("distance", ["euclidean", "cosine", "manhattan"])
def test_zero_once_the_positive_is_closer_by_the_margin(distance: str, model: SentenceEncoder) -> None:
    loss = TripletLoss(model, distance=distance, margin=0.1)  # type: ignore[arg-type]
    anchor = torch.tensor([[1.0, 0.0]])
    close, opposite = torch.tensor([[2.0, 0.1]]), torch.tensor([[-1.0, 0.5]])
    assert loss.compute_loss_from_embeddings([anchor, close, opposite]).item() == 0.0
    assert loss.compute_loss_from_embeddings([anchor, opposite, close]).item() > 0.1


def test_value_by_hand(model: SentenceEncoder) -> None:
    loss = TripletLoss(model, margin=1.0)
    anchors = torch.zeros(2, 2)
    positives = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # distances 5 and 1
    negatives = torch.tensor([[0.0, 2.0], [0.0, 6.0]])  # distances 2 and 6
    # Row 0: 5 - 2 + 1 = 4; row 1: max(0, 1 - 6 + 1) = 0.
    assert loss.compute_loss_from_embeddings([anchors, positives, negatives]).item() == pytest.approx(2.0)


def test_bad_hyper_parameters_are_config_errors(model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match="margin must be a finite number >= 0, found nan"):
        TripletLoss(model, margin=float("nan"))
    with pytest.raises(ConfigError, match=r"distance must be one of \['cosine', 'euclidean', 'manhattan'\]"):
        TripletLoss(model, distance="dot")  # type: ignore[arg-type]
