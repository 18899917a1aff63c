"""ContrastiveLoss and OnlineContrastiveLoss: parity with the reference, direction, validation."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses
from sentence_transformers.sentence_transformer.losses import SiameseDistanceMetric

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers.losses import ContrastiveLoss, OnlineContrastiveLoss

from .cases import ANCHORS, BINARY, NEGATIVES, POSITIVES
from .conftest import assert_matches_reference

METRICS = {
    "cosine": SiameseDistanceMetric.COSINE_DISTANCE,
    "euclidean": SiameseDistanceMetric.EUCLIDEAN,
    "manhattan": SiameseDistanceMetric.MANHATTAN,
}
MIXED = (ANCHORS, [*POSITIVES[:4], *NEGATIVES[4:]])  # rows 0-3 paraphrases, rows 4-7 unrelated
MIXED_LABELS = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0])


@pytest.mark.parametrize(
    ("distance", "margin"), [("cosine", 0.5), ("cosine", 0.05), ("euclidean", 3.0), ("manhattan", 12.0)]
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_contrastive_matches_the_reference(
    distance: str, margin: float, reduction: str, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        ContrastiveLoss(model, distance=distance, margin=margin, reduction=reduction),  # type: ignore[arg-type]
        st_losses.ContrastiveLoss(
            reference_model, distance_metric=METRICS[distance], margin=margin, size_average=reduction == "mean"
        ),
        model,
        reference_model,
        MIXED,
        MIXED_LABELS,
    )


@pytest.mark.parametrize(
    ("distance", "margin"), [("cosine", 0.5), ("cosine", 0.05), ("euclidean", 3.0), ("manhattan", 12.0)]
)
@pytest.mark.parametrize(
    "labels",
    [MIXED_LABELS, BINARY, torch.ones(8, dtype=torch.long), torch.zeros(8)],
    ids=["mixed", "binary", "1s", "0s"],
)
def test_online_contrastive_matches_the_reference(
    distance: str, margin: float, labels: torch.Tensor, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        OnlineContrastiveLoss(model, distance=distance, margin=margin),  # type: ignore[arg-type]
        st_losses.OnlineContrastiveLoss(reference_model, distance_metric=METRICS[distance], margin=margin),
        model,
        reference_model,
        MIXED,
        labels,
    )


def test_contrastive_pulls_similar_pairs_and_pushes_dissimilar_ones(model: SentenceEncoder) -> None:
    loss = ContrastiveLoss(model, distance="euclidean", margin=2.0)
    anchor = torch.zeros(1, 2)
    near, far = torch.tensor([[0.5, 0.0]]), torch.tensor([[3.0, 0.0]])
    similar, dissimilar = torch.tensor([1.0]), torch.tensor([0.0])
    assert loss.compute_loss_from_embeddings([anchor, near], similar).item() == pytest.approx(0.5 * 0.25)
    assert loss.compute_loss_from_embeddings([anchor, far], similar).item() == pytest.approx(0.5 * 9.0)
    assert loss.compute_loss_from_embeddings([anchor, near], dissimilar).item() == pytest.approx(0.5 * 1.5**2)
    assert loss.compute_loss_from_embeddings([anchor, far], dissimilar).item() == 0.0


def test_online_contrastive_ignores_easy_pairs(model: SentenceEncoder) -> None:
    loss = OnlineContrastiveLoss(model, distance="euclidean", margin=1.0)
    anchors = torch.zeros(4, 2)
    labels = torch.tensor([1, 1, 0, 0])
    easy = torch.tensor([[0.1, 0.0], [0.2, 0.0], [2.0, 0.0], [3.0, 0.0]])  # positives all closer than negatives
    assert loss.compute_loss_from_embeddings([anchors, easy], labels).item() == 0.0
    # Positive 1 (0.8) is farther than negative 2 (0.5): both are hard; the other two are easy.
    hard = torch.tensor([[0.1, 0.0], [0.8, 0.0], [0.5, 0.0], [3.0, 0.0]])
    assert loss.compute_loss_from_embeddings([anchors, hard], labels).item() == pytest.approx(0.8**2 + 0.5**2)


def test_online_contrastive_needs_binary_labels(model: SentenceEncoder) -> None:
    pair = [torch.randn(3, 4), torch.randn(3, 4)]
    with pytest.raises(DataError, match="label 0.5 at row 1 is invalid; expected 0 or 1"):
        OnlineContrastiveLoss(model).compute_loss_from_embeddings(pair, torch.tensor([1.0, 0.5, 0.0]))
    assert torch.isfinite(OnlineContrastiveLoss(model).compute_loss_from_embeddings(pair, torch.tensor([True] * 3)))
    with pytest.raises(DataError, match=r"label 2 at row 0 is invalid; expected float scores in \[0, 1\]"):
        ContrastiveLoss(model).compute_loss_from_embeddings(pair, torch.tensor([2, 0, 1]))


@pytest.mark.parametrize("cls", [ContrastiveLoss, OnlineContrastiveLoss])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin": -0.1}, "margin must be a finite number >= 0, found -0.1"),
        ({"margin": "0.5"}, "margin must be a finite number >= 0"),
        ({"distance": "cos"}, r"distance must be one of \['cosine', 'euclidean', 'manhattan'\], found 'cos'"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(
    cls: type, kwargs: dict[str, Any], message: str, model: SentenceEncoder
) -> None:
    with pytest.raises(ConfigError, match=message):
        cls(model, **kwargs)
    with pytest.raises(ConfigError, match=r"reduction must be one of \['mean', 'sum'\]"):
        ContrastiveLoss(model, reduction="none")  # type: ignore[arg-type]
