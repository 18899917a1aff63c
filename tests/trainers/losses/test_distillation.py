"""MSELoss and MarginMSELoss: parity with the reference for every label layout, direction, validation."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer, util
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers.losses import MarginMSELoss, MSELoss

from .cases import ANCHORS, NEGATIVES, POSITIVES, ROWS, SECOND_NEGATIVES, TEACHER, TEACHER_SCORES
from .conftest import assert_matches_reference

PER_COLUMN = torch.randn(ROWS, 2, 32, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("columns", "labels"),
    [((ANCHORS,), TEACHER), ((ANCHORS, POSITIVES), TEACHER), ((ANCHORS, POSITIVES), PER_COLUMN)],
    ids=["one column", "shared teacher", "teacher per column"],
)
def test_mse_matches_the_reference(
    columns: tuple[list[str], ...], labels: torch.Tensor, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        MSELoss(model), st_losses.MSELoss(reference_model), model, reference_model, columns, labels
    )


def test_mse_is_zero_on_the_teacher_and_grows_with_the_gap(model: SentenceEncoder) -> None:
    loss = MSELoss(model)
    teacher = torch.randn(4, 8)
    assert loss.compute_loss_from_embeddings([teacher.clone()], teacher).item() == 0.0
    near = loss.compute_loss_from_embeddings([teacher + 0.1], teacher)
    far = loss.compute_loss_from_embeddings([teacher + 1.0], teacher)
    assert near.item() == pytest.approx(0.01) and far.item() == pytest.approx(1.0)


def test_mse_label_errors(model: SentenceEncoder) -> None:
    loss = MSELoss(model)
    student = [torch.randn(3, 8), torch.randn(3, 8)]
    with pytest.raises(DataError, match=r"teacher embeddings of shape \(3, 8\) or \(3, 2, 8\), found \(3, 16\)"):
        loss.compute_loss_from_embeddings(student, torch.randn(3, 16))
    with pytest.raises(DataError, match=r"found \(3, 3, 8\)"):
        loss.compute_loss_from_embeddings(student, torch.randn(3, 3, 8))
    with pytest.raises(DataError, match="float tensor .* found dtype torch.int64"):
        loss.compute_loss_from_embeddings(student, torch.ones(3, 8, dtype=torch.long))
    with pytest.raises(DataError, match="NaN or infinite"):
        loss.compute_loss_from_embeddings(student, torch.full((3, 8), float("nan")))


MARGINS_2 = TEACHER_SCORES[:, :1] - TEACHER_SCORES[:, 1:]


@pytest.mark.parametrize("similarity", ["dot", "cosine"])
@pytest.mark.parametrize(
    ("columns", "labels"),
    [
        ((ANCHORS, POSITIVES, NEGATIVES), MARGINS_2[:, 0]),
        ((ANCHORS, POSITIVES, NEGATIVES), MARGINS_2[:, :1]),
        ((ANCHORS, POSITIVES, NEGATIVES), TEACHER_SCORES[:, :2]),
        ((ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES), MARGINS_2),
        ((ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES), TEACHER_SCORES),
    ],
    ids=["margins (batch,)", "margins (batch, 1)", "scores (batch, 2)", "margins (batch, 2)", "scores (batch, 3)"],
)
def test_margin_mse_matches_the_reference(
    similarity: str,
    columns: tuple[list[str], ...],
    labels: torch.Tensor,
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    reference_similarity = util.pairwise_dot_score if similarity == "dot" else util.pairwise_cos_sim
    assert_matches_reference(
        MarginMSELoss(model, similarity=similarity),  # type: ignore[arg-type]
        st_losses.MarginMSELoss(reference_model, similarity_fct=reference_similarity),
        model,
        reference_model,
        columns,
        labels,
    )


def test_margin_mse_only_cares_about_margins(model: SentenceEncoder) -> None:
    loss = MarginMSELoss(model)
    query = torch.tensor([[1.0, 0.0]])
    positive, negative = torch.tensor([[3.0, 0.0]]), torch.tensor([[1.0, 5.0]])  # dot scores 3 and 1: margin 2
    assert loss.compute_loss_from_embeddings([query, positive, negative], torch.tensor([2.0])).item() == 0.0
    shifted = torch.tensor([[10.0, 8.0]])  # teacher scores on another scale, same margin
    assert loss.compute_loss_from_embeddings([query, positive, negative], shifted).item() == 0.0
    assert loss.compute_loss_from_embeddings([query, positive, negative], torch.tensor([5.0])).item() == 9.0


def test_margin_mse_errors(model: SentenceEncoder) -> None:
    loss = MarginMSELoss(model)
    rows = [torch.randn(3, 4) for _ in range(4)]  # two negatives
    with pytest.raises(DataError, match=r"margins of shape \(3, 2\) or teacher scores of shape \(3, 3\), found \(3,\)"):
        loss.compute_loss_from_embeddings(rows, torch.randn(3))
    with pytest.raises(DataError, match="labels=None"):
        loss.compute_loss_from_embeddings(rows, None)
    with pytest.raises(ConfigError, match=r"similarity must be one of \['cosine', 'dot'\]"):
        MarginMSELoss(model, similarity="euclidean")  # type: ignore[arg-type]
