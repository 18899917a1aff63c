"""CachedMultipleNegativesRankingLoss: the loss and gradients of MultipleNegativesRankingLoss, GradCache replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses
from torch import Tensor, nn

from sbert_plugins import ConfigError, SentenceEncoder
from trainers import Trainer, TrainingConfig
from trainers.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss
from trainers.losses._gradcache import mini_batch

from .cases import ANCHORS, NEGATIVES, POSITIVES, SECOND_NEGATIVES
from .conftest import assert_matches_reference, features

TRIPLETS = (ANCHORS, POSITIVES, NEGATIVES)
GTE: dict[str, Any] = {"directions": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")}
SYMMETRIC: dict[str, Any] = {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"}


def _grads(model: nn.Module) -> list[Tensor]:
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def _assert_grads_close(ours: list[Tensor], theirs: list[Tensor], atol: float = 1e-5) -> None:
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=atol * max(1.0, float(b.abs().max())))


@pytest.mark.parametrize(
    ("kwargs", "columns"),
    [
        ({"mini_batch_size": 1}, (ANCHORS, POSITIVES)),
        ({"mini_batch_size": 3}, TRIPLETS),
        ({"mini_batch_size": 5}, (ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES)),
        ({"mini_batch_size": 3, **GTE}, TRIPLETS),
        ({"mini_batch_size": 3, **SYMMETRIC}, TRIPLETS),
        ({"mini_batch_size": 64, "scale": 1.0, "similarity": "dot"}, TRIPLETS),
    ],
)
def test_matches_the_reference_multiple_negatives_ranking_loss(
    kwargs: dict[str, Any], columns: tuple[list[str], ...], model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    from sentence_transformers import util

    reference_kwargs = {k: v for k, v in kwargs.items() if k not in ("mini_batch_size", "similarity")}
    if kwargs.get("similarity") == "dot":
        reference_kwargs["similarity_fct"] = util.dot_score
    assert_matches_reference(
        CachedMultipleNegativesRankingLoss(model, **kwargs),
        st_losses.MultipleNegativesRankingLoss(reference_model, **reference_kwargs),
        model,
        reference_model,
        columns,
        None,
    )


@pytest.mark.parametrize("kwargs", [{}, GTE, SYMMETRIC])
def test_the_maths_equals_the_plain_loss_on_hand_made_embeddings(
    kwargs: dict[str, Any], model: SentenceEncoder
) -> None:
    torch.manual_seed(0)
    embeddings = [torch.randn(7, 16) for _ in range(3)]
    plain = MultipleNegativesRankingLoss(model, **kwargs).compute_loss_from_embeddings(embeddings)
    cached = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2, **kwargs)
    assert cached.compute_loss_from_embeddings(embeddings).item() == pytest.approx(plain.item(), abs=1e-6)


def test_the_backward_pass_replays_each_mini_batch_with_the_same_dropout(tiny_encoder: SentenceEncoder) -> None:
    """With dropout on, the gradient equals that of the plain loss on embeddings made mini-batch by mini-batch
    (same RNG order): it would not if the replay drew new dropout masks."""
    model = tiny_encoder.train()
    batch = features(model, TRIPLETS)
    torch.manual_seed(3)
    embeddings = [
        torch.cat([model(mini_batch(col, b, min(b + 3, 8)))["sentence_embedding"] for b in (0, 3, 6)]) for col in batch
    ]
    expected = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings(embeddings)
    expected.backward()
    expected_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    value = CachedMultipleNegativesRankingLoss(model, mini_batch_size=3)(features(model, TRIPLETS))
    value.backward()
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    _assert_grads_close(_grads(model), expected_grads)


def test_the_backward_pass_replays_under_the_forward_autocast(model: SentenceEncoder) -> None:
    """bf16 autocast in force at forward time is in force again when the backward pass re-embeds."""
    results = []
    for loss in (MultipleNegativesRankingLoss(model), CachedMultipleNegativesRankingLoss(model, mini_batch_size=8)):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            value = loss(features(model, TRIPLETS))
        value.backward()
        results.append((value.item(), _grads(model)))
    (plain, plain_grads), (cached, cached_grads) = results
    assert cached == pytest.approx(plain, abs=1e-5)
    _assert_grads_close(cached_grads, plain_grads, atol=1e-3)


def test_two_forwards_before_one_backward_keep_their_own_gradients(model: SentenceEncoder) -> None:
    loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=3)
    first, second = features(model, TRIPLETS), features(model, (POSITIVES, ANCHORS, SECOND_NEGATIVES))
    separate = []
    for batch in (first, second):
        model.zero_grad(set_to_none=True)
        loss(batch).backward()
        separate.append(_grads(model))
    model.zero_grad(set_to_none=True)
    (loss(first) + 2.0 * loss(second)).backward()
    _assert_grads_close(_grads(model), [a + 2.0 * b for a, b in zip(*separate, strict=True)])


def test_without_gradients_it_only_computes_the_loss(model: SentenceEncoder) -> None:
    with torch.no_grad():
        value = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)(features(model, TRIPLETS))
        plain = MultipleNegativesRankingLoss(model)(features(model, TRIPLETS))
    assert not value.requires_grad
    assert value.item() == pytest.approx(plain.item(), abs=1e-5)


def test_a_mini_batch_drops_the_padding_its_rows_do_not_use(model: SentenceEncoder) -> None:
    batch = model.tokenize(["a man", "a man plays the guitar in the park with a dog"])
    short = mini_batch(batch, 0, 1)
    assert short["input_ids"].shape == (1, int(batch["attention_mask"][0].sum()))
    assert mini_batch(batch, 1, 2)["input_ids"].shape == (1, batch["input_ids"].shape[1])
    torch.testing.assert_close(model(short)["sentence_embedding"], model(dict(batch))["sentence_embedding"][:1])


def _without_dropout(model: SentenceEncoder) -> SentenceEncoder:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def test_training_with_it_gives_the_weights_of_the_plain_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [{"anchor": a, "positive": p} for a, p in zip(ANCHORS + POSITIVES, POSITIVES + ANCHORS, strict=True)]
    trained = []
    for name in ("plain", "cached"):
        model = _without_dropout(SentenceEncoder(tiny_model_dir, device="cpu"))
        loss = (
            MultipleNegativesRankingLoss(model)
            if name == "plain"
            else CachedMultipleNegativesRankingLoss(model, mini_batch_size=3)
        )
        config = TrainingConfig(
            epochs=1, batch_size=8, learning_rate=1e-3, output_dir=str(tmp_path / name), show_progress=False
        )
        Trainer(model, loss=loss, train_data=rows, config=config).train()
        trained.append(model)
    for ours, theirs in zip(trained[1].parameters(), trained[0].parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_mini_batch_size_must_be_a_positive_integer(value: Any, model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match="mini_batch_size must be an integer >= 1"):
        CachedMultipleNegativesRankingLoss(model, mini_batch_size=value)
