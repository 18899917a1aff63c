"""CoSENTLoss and AnglELoss: parity with the reference, direction, the n-tuple form, validation."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers.losses import AnglELoss, CoSENTLoss

from .cases import ANCHORS, NEGATIVES, POSITIVES, SCORES, SECOND_NEGATIVES
from .conftest import assert_matches_reference

OURS = {"CoSENTLoss": CoSENTLoss, "AnglELoss": AnglELoss}
TIED = torch.tensor([1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5])  # ties must not count as ordered pairs


@pytest.mark.parametrize("name", sorted(OURS))
@pytest.mark.parametrize("scale", [20.0, 3.0])
@pytest.mark.parametrize("labels", [SCORES, TIED, 5 * SCORES], ids=["scores", "ties", "0-5 scale"])
def test_pairs_match_the_reference(
    name: str, scale: float, labels: torch.Tensor, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        OURS[name](model, scale=scale),
        getattr(st_losses, name)(reference_model, scale=scale),
        model,
        reference_model,
        (ANCHORS, NEGATIVES),
        labels,
    )


@pytest.mark.parametrize("labels", [None, SCORES], ids=["no labels", "scores"])
@pytest.mark.parametrize(
    "columns", [(ANCHORS, POSITIVES, NEGATIVES), (ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES)]
)
def test_angle_n_tuples_match_the_reference(
    labels: torch.Tensor | None,
    columns: tuple[list[str], ...],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    assert_matches_reference(
        AnglELoss(model), st_losses.AnglELoss(reference_model), model, reference_model, columns, labels
    )


@pytest.mark.parametrize("name", sorted(OURS))
def test_smaller_when_similarities_are_ranked_like_the_labels(name: str, model: SentenceEncoder) -> None:
    loss = OURS[name](model)
    torch.manual_seed(0)
    anchors = torch.randn(3, 8)
    # Pair 0 almost identical, pair 1 a bit apart, pair 2 opposite.
    seconds = torch.stack([anchors[0] + 0.01, anchors[1] + 0.8 * torch.randn(8), -anchors[2]])
    ranked = loss.compute_loss_from_embeddings([anchors, seconds], torch.tensor([1.0, 0.5, 0.0]))
    reversed_ = loss.compute_loss_from_embeddings([anchors, seconds], torch.tensor([0.0, 0.5, 1.0]))
    assert ranked < reversed_


def test_cosent_value_by_hand(model: SentenceEncoder) -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # cosines 1 and 0
    loss = CoSENTLoss(model, scale=2.0)
    # label 0 > label 1: one ordered pair, term exp(2 * (0 - 1)).
    assert loss.compute_loss_from_embeddings([a, b], torch.tensor([0.9, 0.1])).item() == pytest.approx(
        torch.log1p(torch.exp(torch.tensor(-2.0))).item(), abs=1e-6
    )
    # Equal labels: no ordered pair, the loss is log(1) = 0.
    assert loss.compute_loss_from_embeddings([a, b], torch.tensor([0.5, 0.5])).item() == 0.0


def test_cosent_n_tuple_equals_the_expanded_pairs(model: SentenceEncoder) -> None:
    torch.manual_seed(0)
    anchor, positive, negative = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    loss = CoSENTLoss(model)
    expanded = loss.compute_loss_from_embeddings(
        [torch.cat([anchor, anchor]), torch.cat([positive, negative])], torch.tensor([1.0] * 4 + [0.0] * 4)
    )
    assert loss.compute_loss_from_embeddings([anchor, positive, negative], None).item() == pytest.approx(
        expanded.item()
    )


@pytest.mark.parametrize("name", sorted(OURS))
def test_pairs_need_labels_and_scale_must_be_positive(name: str, model: SentenceEncoder) -> None:
    with pytest.raises(DataError, match="labels=None"):
        OURS[name](model).compute_loss_from_embeddings([torch.randn(2, 4), torch.randn(2, 4)], None)
    with pytest.raises(ConfigError, match=r"scale must be a finite number > 0, found -1"):
        OURS[name](model, scale=-1)
