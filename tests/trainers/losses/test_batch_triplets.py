"""The batch triplet losses: parity with the reference for each distance and label layout, direction, by-hand values."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses
from sentence_transformers.sentence_transformer.losses import BatchHardTripletLossDistanceFunction as Distances

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers import losses

from .cases import ANCHORS, CLASSES
from .conftest import assert_matches_reference

NAMES = ["BatchHardTripletLoss", "BatchHardSoftMarginTripletLoss", "BatchSemiHardTripletLoss", "BatchAllTripletLoss"]
WITH_MARGIN = [name for name in NAMES if name != "BatchHardSoftMarginTripletLoss"]
REFERENCE_DISTANCES = {
    "euclidean": Distances.euclidean_distance,
    "squared_euclidean": functools.partial(Distances.euclidean_distance, squared=True),
    "cosine": Distances.cosine_distance,
}
LABELS = {
    "pairs": CLASSES,
    "singleton": torch.tensor([0, 0, 0, 1, 1, 2, 3, 3]),
    "two classes": torch.tensor([1, 0, 1, 0, 1, 0, 1, 0]),
    "all different": torch.arange(8),
    "all the same": torch.zeros(8, dtype=torch.long),
}
MARGINS = {"euclidean": 0.5, "squared_euclidean": 1.0, "cosine": 0.05}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("distance", sorted(REFERENCE_DISTANCES))
@pytest.mark.parametrize("labels", list(LABELS.values()), ids=list(LABELS))
def test_matches_the_reference(
    name: str, distance: str, labels: torch.Tensor, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    kwargs: dict[str, Any] = {} if name not in WITH_MARGIN else {"margin": MARGINS[distance]}
    assert_matches_reference(
        getattr(losses, name)(model, distance=distance, **kwargs),
        getattr(st_losses, name)(reference_model, distance_metric=REFERENCE_DISTANCES[distance], **kwargs),
        model,
        reference_model,
        (ANCHORS,),
        labels,
    )


@pytest.mark.parametrize("name", WITH_MARGIN)
def test_default_margin_matches_the_reference(
    name: str, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    value = assert_matches_reference(
        getattr(losses, name)(model),
        getattr(st_losses, name)(reference_model),
        model,
        reference_model,
        (ANCHORS,),
        CLASSES,
    )
    assert value > 0


def clusters(spread: float) -> torch.Tensor:
    """Three classes of two points each: centres 10 apart, points ``spread`` from their centre."""
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]).repeat_interleave(2, dim=0)
    offsets = torch.tensor([[spread, 0.0], [-spread, 0.0]]).repeat(3, 1)
    return centres + offsets


@pytest.mark.parametrize("name", NAMES)
def test_smaller_when_classes_are_tight_clusters(name: str, model: SentenceEncoder) -> None:
    loss = getattr(losses, name)(model)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    tight = loss.compute_loss_from_embeddings([clusters(0.1)], labels)
    loose = loss.compute_loss_from_embeddings([clusters(6.0)], labels)
    assert tight < loose
    if name in WITH_MARGIN:  # positives 0.2 apart, negatives about 10: every margin of 5 is met
        assert tight.item() == 0.0


def test_semi_hard_picks_the_closest_negative_beyond_the_positive(model: SentenceEncoder) -> None:
    loss = losses.BatchSemiHardTripletLoss(model, margin=5.0)
    points = torch.tensor([[0.0], [1.0], [0.5], [3.0], [10.0]])
    labels = torch.tensor([0, 0, 1, 2, 3])
    # Pair (0, 1): negatives at 0.5, 3, 10 -> 3 is semi-hard: 1 - 3 + 5 = 3.
    # Pair (1, 0): negatives at 0.5, 2, 9 -> 2 is semi-hard: 1 - 2 + 5 = 4. Mean 3.5.
    assert loss.compute_loss_from_embeddings([points], labels).item() == pytest.approx(3.5)
    # No negative beyond the positive: fall back to the farthest negative (0.5 for both pairs).
    near = torch.tensor([[0.0], [1.0], [0.5]])
    value = losses.BatchSemiHardTripletLoss(model, margin=1.0).compute_loss_from_embeddings(
        [near], torch.tensor([0, 0, 1])
    )
    assert value.item() == pytest.approx(1.5)


def test_batch_hard_and_batch_all_by_hand(model: SentenceEncoder) -> None:
    points = torch.tensor([[0.0], [2.0], [1.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # Distances: d01=2, d02=1, d03=5, d12=1, d13=3, d23=4.
    # Hard, margin 1: anchor0 2-1+1=2; anchor1 2-1+1=2; anchor2 4-1+1=4; anchor3 4-3+1=2 -> mean 2.5.
    hard = losses.BatchHardTripletLoss(model, margin=1.0).compute_loss_from_embeddings([points], labels)
    assert hard.item() == pytest.approx(2.5)
    # All, margin 1: (0,1,2)=2 (0,1,3)=0 (1,0,2)=2 (1,0,3)=0 (2,3,0)=4 (2,3,1)=4 (3,2,0)=0 (3,2,1)=2 -> 14 / 5.
    every = losses.BatchAllTripletLoss(model, margin=1.0).compute_loss_from_embeddings([points], labels)
    assert every.item() == pytest.approx(14 / 5)


@pytest.mark.parametrize("name", NAMES)
def test_bad_arguments(name: str, model: SentenceEncoder) -> None:
    cls = getattr(losses, name)
    with pytest.raises(ConfigError, match=r"distance must be one of \['cosine', 'euclidean', 'squared_euclidean'\]"):
        cls(model, distance="manhattan")
    if name in WITH_MARGIN:
        with pytest.raises(ConfigError, match="margin must be a finite number >= 0"):
            cls(model, margin=-1)
    with pytest.raises(DataError, match="label 0.5 at row 1 is invalid; expected integer class ids"):
        cls(model).compute_loss_from_embeddings([torch.randn(3, 4)], torch.tensor([0.0, 0.5, 1.0]))
