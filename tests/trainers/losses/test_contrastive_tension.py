"""ContrastiveTensionLoss and ContrastiveTensionLossInBatchNegatives: two copies of the model, parity with the
reference (values and the model's gradients), the labels derived from tokens, the pair builder, and training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer, util
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers import Trainer, TrainingConfig
from trainers.losses import ContrastiveTensionLoss, ContrastiveTensionLossInBatchNegatives
from trainers.losses.contrastive_tension import contrastive_tension_pairs, identical_rows

from .cases import ANCHORS, NEGATIVES, POSITIVES, TENSION_B
from .conftest import assert_matches_reference, features

TENSION_LABELS = torch.tensor([1.0 if i % 3 == 0 else 0.0 for i in range(len(ANCHORS))])


@pytest.mark.parametrize("labels", [None, TENSION_LABELS], ids=["labels from tokens", "labels given"])
def test_contrastive_tension_matches_the_reference(
    labels: torch.Tensor | None, model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    assert_matches_reference(
        ContrastiveTensionLoss(model),
        st_losses.ContrastiveTensionLoss(reference_model),
        model,
        reference_model,
        (ANCHORS, TENSION_B),
        labels,
    )


@pytest.mark.parametrize(
    ("kwargs", "reference_kwargs"),
    [({}, {}), ({"scale": 1.0, "similarity": "dot"}, {"scale": 1.0, "similarity_fct": util.dot_score})],
    ids=["cosine, scale 20", "dot, scale 1"],
)
def test_in_batch_negatives_matches_the_reference(
    kwargs: dict[str, object],
    reference_kwargs: dict[str, object],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    ours = ContrastiveTensionLossInBatchNegatives(model, **kwargs)  # type: ignore[arg-type]
    reference = st_losses.ContrastiveTensionLossInBatchNegatives(reference_model, **reference_kwargs)  # type: ignore[arg-type]
    assert_matches_reference(ours, reference, model, reference_model, (ANCHORS,), None)
    assert ours.logit_scale.grad is not None
    torch.testing.assert_close(ours.logit_scale.grad, reference.logit_scale.grad, rtol=1e-4, atol=1e-6)


def test_the_twin_is_an_independent_copy_and_both_get_gradients(tiny_encoder: SentenceEncoder) -> None:
    model = tiny_encoder.train()
    loss = ContrastiveTensionLossInBatchNegatives(model)
    model_ids = {id(p) for p in model.parameters()}
    assert not model_ids & {id(p) for p in loss.twin.parameters()}
    loss(features(model, (ANCHORS,)), None).backward()
    for encoder in (model, loss.twin):
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    # The trainer's optimizer sees each parameter once: the model's, then the twin's and the scale.
    own = {id(p) for p in loss.parameters()} - model_ids
    assert len(own) == len(list(loss.twin.parameters())) + 1


def test_labels_from_tokens_ignore_padding(model: SentenceEncoder) -> None:
    first = model.tokenize(["a man plays guitar", "a dog", "a dog"])
    second = model.tokenize(["a man plays guitar", "a dog", "a cat"])
    padded = model.tokenize(["a dog runs in the park today", "a dog", "a dog"])  # row 1 padded differently
    assert identical_rows(first, second).tolist() == [1.0, 1.0, 0.0]
    assert identical_rows(padded, second)[1].item() == 1.0


def test_contrastive_tension_direction(model: SentenceEncoder) -> None:
    loss = ContrastiveTensionLoss(model)
    a = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    agree = loss.compute_loss_from_embeddings([a, a], torch.tensor([1.0, 1.0]))
    disagree = loss.compute_loss_from_embeddings([a, a], torch.tensor([0.0, 0.0]))
    assert agree.item() < 0.001 < 17.0 < disagree.item()  # summed BCE: 2 rows of log(1 + e^9)


def test_in_batch_negatives_prefers_the_diagonal(model: SentenceEncoder) -> None:
    loss = ContrastiveTensionLossInBatchNegatives(model)
    eye = torch.eye(4)
    matched = loss.compute_loss_from_embeddings([eye, eye], None)
    shuffled = loss.compute_loss_from_embeddings([eye, eye.roll(1, dims=0)], None)
    assert matched.item() < 1e-6 and shuffled.item() > 10


def test_errors(model: SentenceEncoder) -> None:
    loss = ContrastiveTensionLoss(model)
    with pytest.raises(DataError, match="expected 0 or 1"):
        loss(features(model, (ANCHORS, POSITIVES)), torch.full((len(ANCHORS),), 0.5))
    with pytest.raises(DataError, match="exactly 1 text column"):
        ContrastiveTensionLossInBatchNegatives(model)(features(model, (ANCHORS, POSITIVES)), None)
    with pytest.raises(DataError, match="no 'input_ids'"):
        loss([{"attention_mask": torch.ones(2, 3)}, {"attention_mask": torch.ones(2, 3)}], None)
    with pytest.raises(ConfigError, match="scale must be a finite number > 0"):
        ContrastiveTensionLossInBatchNegatives(model, scale=0)
    with pytest.raises(ConfigError, match="similarity must be one of"):
        ContrastiveTensionLossInBatchNegatives(model, similarity="manhattan")  # type: ignore[arg-type]


def test_pair_builder() -> None:
    sentences = [f"sentence number {i}" for i in range(40)]
    rows = contrastive_tension_pairs(sentences, positive_every=4, seed=1)
    assert rows == contrastive_tension_pairs(sentences, positive_every=4, seed=1)
    assert [row["label"] for row in rows[:8]] == [1, 0, 0, 0, 1, 0, 0, 0]
    assert all((row["sentence_A"] == row["sentence_B"]) == bool(row["label"]) for row in rows)
    used = [s for row in rows for s in ({row["sentence_A"], row["sentence_B"]})]
    assert len(used) == len(set(used))  # each sentence once
    with pytest.raises(ConfigError, match="positive_every must be an integer >= 2"):
        contrastive_tension_pairs(sentences, positive_every=1)
    with pytest.raises(DataError, match="at least 2 distinct"):
        contrastive_tension_pairs(["same", "same"])
    with pytest.raises(DataError, match="sentence 1 is a int"):
        contrastive_tension_pairs(["a", 3])  # type: ignore[list-item]


def _train(model: SentenceEncoder, loss: torch.nn.Module, rows: list[dict[str, object]], tmp_path: Path) -> None:
    config = TrainingConfig(
        output_dir=str(tmp_path / "out"), epochs=4, batch_size=8, learning_rate=1e-3, show_progress=False, seed=0
    )
    Trainer(model, loss=loss, train_data=rows, config=config).train()


def test_trainer_with_contrastive_tension(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    rows = contrastive_tension_pairs(ANCHORS + POSITIVES + NEGATIVES, positive_every=4, seed=0)
    loss = ContrastiveTensionLoss(tiny_encoder)
    batch = features(tiny_encoder, ([r["sentence_A"] for r in rows], [r["sentence_B"] for r in rows]))
    labels = torch.tensor([float(r["label"]) for r in rows])
    with torch.no_grad():
        before = loss(batch, labels).item()
    _train(tiny_encoder, loss, rows, tmp_path)
    tiny_encoder.eval()
    loss.eval()
    with torch.no_grad():
        after = loss(batch, labels).item()
    assert after < before
    assert (tmp_path / "out" / "modules.json").is_file()


def test_trainer_with_in_batch_negatives(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    rows = [{"sentence": s} for s in ANCHORS + NEGATIVES]
    loss = ContrastiveTensionLossInBatchNegatives(tiny_encoder)
    batch = features(tiny_encoder, (ANCHORS,))
    with torch.no_grad():
        before = loss(batch, None).item()
    _train(tiny_encoder, loss, rows, tmp_path)
    tiny_encoder.eval()
    loss.eval()
    with torch.no_grad():
        after = loss(batch, None).item()
    assert after < before
