"""DistillKLDivLoss and EmbedDistillLoss: parity with the reference (values and gradients), direction, validation,
the projection's save/load, and a short Trainer run with each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer, util
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers import Trainer, TrainingConfig
from trainers.losses import DistillKLDivLoss, EmbedDistillLoss, MSELoss

from .cases import ANCHORS, NEGATIVES, POSITIVES, ROWS, SECOND_NEGATIVES, TEACHER, TEACHER_SCORES
from .conftest import assert_matches_reference, features

FOUR_COLUMNS = (ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES)
PER_COLUMN = torch.randn(ROWS, 2, 32, generator=torch.Generator().manual_seed(1))


# ---- DistillKLDivLoss --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reference_kwargs"),
    [
        ({}, {}),
        ({"similarity": "cosine", "temperature": 0.05}, {"similarity_fct": util.pairwise_cos_sim, "temperature": 0.05}),
        (
            {"temperature": 2.0, "student_temperature": 0.5, "teacher_temperature": 3.0},
            {"temperature": 2.0, "student_temperature": 0.5, "teacher_temperature": 3.0},
        ),
    ],
    ids=["dot", "cosine, temperature 0.05", "separate temperatures"],
)
@pytest.mark.parametrize("columns", [FOUR_COLUMNS, FOUR_COLUMNS[:3]], ids=["two negatives", "one negative"])
def test_distill_kl_div_matches_the_reference(
    kwargs: dict[str, Any],
    reference_kwargs: dict[str, Any],
    columns: tuple[list[str], ...],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    labels = TEACHER_SCORES[:, : len(columns) - 1].contiguous()
    assert_matches_reference(
        DistillKLDivLoss(model, **kwargs),
        st_losses.DistillKLDivLoss(reference_model, **reference_kwargs),
        model,
        reference_model,
        columns,
        labels,
    )


def test_distill_kl_div_is_zero_when_the_student_ranks_like_the_teacher(model: SentenceEncoder) -> None:
    loss = DistillKLDivLoss(model)
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive, negative = torch.tensor([[3.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    student_scores = torch.tensor([[3.0, 1.0], [2.0, -1.0]])  # the dot products above
    same = loss.compute_loss_from_embeddings([query, positive, negative], student_scores)
    assert same.item() == pytest.approx(0.0, abs=1e-7)
    shifted = loss.compute_loss_from_embeddings([query, positive, negative], student_scores + 10.0)
    assert shifted.item() == pytest.approx(0.0, abs=1e-6)  # only the softmax matters, not the scale offset
    reversed_ranking = loss.compute_loss_from_embeddings([query, positive, negative], student_scores.flip(1))
    assert reversed_ranking.item() > 1.0


def test_distill_kl_div_negative_infinity_excludes_a_candidate(model: SentenceEncoder) -> None:
    loss = DistillKLDivLoss(model)
    query, positive = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    negative, excluded = torch.tensor([[0.0, 1.0]]), torch.tensor([[5.0, 0.0]])
    with_excluded = loss.compute_loss_from_embeddings(
        [query, positive, negative, excluded], torch.tensor([[2.0, 0.0, -torch.inf]])
    )
    assert torch.isfinite(with_excluded)


def test_distill_kl_div_errors(model: SentenceEncoder) -> None:
    loss = DistillKLDivLoss(model)
    rows = [torch.randn(3, 4) for _ in range(4)]
    with pytest.raises(DataError, match=r"teacher scores of shape \(3, 3\).*found \(3, 2\)"):
        loss.compute_loss_from_embeddings(rows, torch.randn(3, 2))
    with pytest.raises(DataError, match="NaN or \\+inf"):
        loss.compute_loss_from_embeddings(rows, torch.tensor([[1.0, float("nan"), 0.0]] * 3))
    with pytest.raises(DataError, match="all -inf"):
        loss.compute_loss_from_embeddings(rows, torch.full((3, 3), -torch.inf))
    with pytest.raises(DataError, match="float tensor"):
        loss.compute_loss_from_embeddings(rows, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(DataError, match="at least 3 text column"):
        loss.compute_loss_from_embeddings(rows[:2], torch.randn(3, 1))
    with pytest.raises(ConfigError, match="teacher_temperature must be a finite number > 0"):
        DistillKLDivLoss(model, teacher_temperature=0.0)
    with pytest.raises(ConfigError, match="similarity must be one of"):
        DistillKLDivLoss(model, similarity="euclidean")  # type: ignore[arg-type]


# ---- EmbedDistillLoss --------------------------------------------------------------------------


@pytest.mark.parametrize("distance", ["cosine", "l2", "mse"])
@pytest.mark.parametrize(
    ("columns", "labels"),
    [((ANCHORS,), TEACHER), ((ANCHORS, POSITIVES), TEACHER), ((ANCHORS, POSITIVES), PER_COLUMN)],
    ids=["one column", "shared teacher", "teacher per column"],
)
def test_embed_distill_matches_the_reference(
    distance: str,
    columns: tuple[list[str], ...],
    labels: torch.Tensor,
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    assert_matches_reference(
        EmbedDistillLoss(model, distance=distance),  # type: ignore[arg-type]
        st_losses.EmbedDistillLoss(reference_model, distance_metric=distance),  # type: ignore[arg-type]
        model,
        reference_model,
        columns,
        labels,
    )


def test_embed_distill_with_a_projection_matches_the_reference(
    model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    """Both build the projection as the first random draw after seeding: the same initial weights."""
    teacher = torch.randn(ROWS, 48, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(5)
    ours = EmbedDistillLoss(model, projection_dim=48)
    torch.manual_seed(5)
    reference = st_losses.EmbedDistillLoss(reference_model, projection_dim=48)
    assert ours.projection is not None and reference.projection is not None
    assert torch.equal(ours.projection.weight, reference.projection.weight)
    assert_matches_reference(ours, reference, model, reference_model, (ANCHORS, POSITIVES), teacher)
    assert ours.projection.weight.grad is not None
    torch.testing.assert_close(ours.projection.weight.grad, reference.projection.weight.grad, rtol=0, atol=1e-5)


def test_embed_distill_mse_equals_mse_loss(model: SentenceEncoder) -> None:
    student = [torch.randn(4, 8), torch.randn(4, 8)]
    teacher = torch.randn(4, 8)
    ours = EmbedDistillLoss(model, distance="mse").compute_loss_from_embeddings(student, teacher)
    assert ours.item() == pytest.approx(MSELoss(model).compute_loss_from_embeddings(student, teacher).item())


def test_embed_distill_cosine_ignores_scale(model: SentenceEncoder) -> None:
    loss = EmbedDistillLoss(model)
    teacher = torch.randn(4, 8)
    assert loss.compute_loss_from_embeddings([3.0 * teacher], teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert loss.compute_loss_from_embeddings([-teacher], teacher).item() == pytest.approx(2.0)


def test_embed_distill_errors(model: SentenceEncoder) -> None:
    loss = EmbedDistillLoss(model)
    student = [torch.randn(3, 32)]
    with pytest.raises(DataError, match=r"found \(3, 64\); for a teacher of another dimension set projection_dim=64"):
        loss.compute_loss_from_embeddings(student, torch.randn(3, 64))
    with pytest.raises(DataError, match="NaN or infinite"):
        loss.compute_loss_from_embeddings(student, torch.full((3, 32), float("inf")))
    with pytest.raises(DataError, match="labels=None"):
        loss.compute_loss_from_embeddings(student, None)
    with pytest.raises(ConfigError, match=r"distance must be one of \['cosine', 'l2', 'mse'\]"):
        EmbedDistillLoss(model, distance="dot")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="projection_dim must be an integer >= 1"):
        EmbedDistillLoss(model, projection_dim=0)
    with pytest.raises(ConfigError, match="no projection to save"):
        loss.save_projection("unused.safetensors")


def test_embed_distill_projection_round_trips(model: SentenceEncoder, tmp_path: Path) -> None:
    trained = EmbedDistillLoss(model, projection_dim=16)
    path = tmp_path / "projection.safetensors"
    trained.save_projection(path)
    fresh = EmbedDistillLoss(model)
    fresh.load_projection(path)
    assert fresh.projection is not None and trained.projection is not None
    assert fresh.get_config_dict() == {"distance": "cosine", "projection_dim": 16}
    assert torch.equal(fresh.projection.weight, trained.projection.weight)
    with pytest.raises(ConfigError, match="built with projection_dim=8"):
        EmbedDistillLoss(model, projection_dim=8).load_projection(path)


# ---- training ----------------------------------------------------------------------------------


def _config(tmp_path: Path) -> TrainingConfig:
    return TrainingConfig(
        output_dir=str(tmp_path / "out"), epochs=8, batch_size=4, learning_rate=1e-3, show_progress=False, seed=0
    )


def test_trainer_with_distill_kl_div_learns_the_teachers_ranking(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    rows = [
        {"query": q, "positive": p, "negative": n, "label": [5.0, 0.0]}
        for q, p, n in zip(ANCHORS, POSITIVES, NEGATIVES, strict=True)
    ]
    loss = DistillKLDivLoss(tiny_encoder, similarity="cosine", temperature=0.1)
    batch = features(tiny_encoder, (ANCHORS, POSITIVES, NEGATIVES))
    labels = torch.tensor([[5.0, 0.0]] * ROWS)
    with torch.no_grad():
        before = loss(batch, labels).item()
    Trainer(tiny_encoder, loss=loss, train_data=rows, config=_config(tmp_path)).train()
    tiny_encoder.eval()
    with torch.no_grad():
        after = loss(batch, labels).item()
    assert after < before


def test_trainer_with_embed_distill_trains_the_projection(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    teacher = torch.randn(ROWS, 8, generator=torch.Generator().manual_seed(3))
    rows = [{"text": text, "label": vector} for text, vector in zip(ANCHORS, teacher.tolist(), strict=True)]
    loss = EmbedDistillLoss(tiny_encoder, distance="l2", projection_dim=8)
    assert loss.projection is not None
    start = loss.projection.weight.detach().clone()
    batch = features(tiny_encoder, (ANCHORS,))
    with torch.no_grad():
        before = loss(batch, teacher).item()
    Trainer(tiny_encoder, loss=loss, train_data=rows, config=_config(tmp_path)).train()
    tiny_encoder.eval()
    with torch.no_grad():
        after = loss(batch, teacher).item()
    assert after < before
    assert not torch.equal(loss.projection.weight, start)
