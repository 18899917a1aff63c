"""MatryoshkaLoss, AdaptiveLayerLoss, Matryoshka2dLoss: reference parity, cached inner losses, Trainer, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers import Trainer, TrainingConfig, losses

from .cases import ANCHORS, NEGATIVES, POSITIVES, SCORES, TEACHER
from .conftest import assert_matches_reference, features

TRIPLETS = (ANCHORS, POSITIVES, NEGATIVES)


def _inner(name: str, model: Any) -> Any:
    """The same inner loss in our suite and in the reference (by the reference's positional signature)."""
    if name == "MultipleNegativesRankingLoss":
        return (
            losses.MultipleNegativesRankingLoss(model)
            if isinstance(model, SentenceEncoder)
            else (st_losses.MultipleNegativesRankingLoss(model))
        )
    if name == "CoSENTLoss":
        return losses.CoSENTLoss(model) if isinstance(model, SentenceEncoder) else st_losses.CoSENTLoss(model)
    return losses.MSELoss(model) if isinstance(model, SentenceEncoder) else st_losses.MSELoss(model)


CASES = [
    ("MultipleNegativesRankingLoss", TRIPLETS, None),
    ("CoSENTLoss", (ANCHORS, POSITIVES), SCORES),
    ("MSELoss", (ANCHORS,), TEACHER),  # teacher embeddings are truncated along with the embeddings
]


@pytest.mark.parametrize(("inner", "columns", "labels"), CASES)
@pytest.mark.parametrize("weights", [None, [1.0, 0.5, 0.25]])
def test_matryoshka_matches_the_reference(
    inner: str,
    columns: tuple[list[str], ...],
    labels: torch.Tensor | None,
    weights: list[float] | None,
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    assert_matches_reference(
        losses.MatryoshkaLoss(model, _inner(inner, model), matryoshka_dims=[8, 32, 16], matryoshka_weights=weights),
        st_losses.MatryoshkaLoss(
            reference_model, _inner(inner, reference_model), [8, 32, 16], matryoshka_weights=weights
        ),
        model,
        reference_model,
        columns,
        labels,
    )


@pytest.mark.parametrize(("inner", "columns", "labels"), CASES[:2])
@pytest.mark.parametrize("kwargs", [{}, {"layer_weighting": "log", "kl_temperature": 0.5, "prior_layers_weight": 2.0}])
def test_adaptive_layer_matches_the_reference(
    inner: str,
    columns: tuple[list[str], ...],
    labels: torch.Tensor | None,
    kwargs: dict[str, Any],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    # All earlier layers every step (the reference draws with Python's random module, we with torch's).
    assert_matches_reference(
        losses.AdaptiveLayerLoss(model, _inner(inner, model), n_layers_per_step=None, **kwargs),
        st_losses.AdaptiveLayerLoss(reference_model, _inner(inner, reference_model), n_layers_per_step=-1, **kwargs),
        model,
        reference_model,
        columns,
        labels,
    )


@pytest.mark.parametrize(("inner", "columns", "labels"), CASES[:2])
def test_matryoshka_2d_matches_the_reference(
    inner: str,
    columns: tuple[list[str], ...],
    labels: torch.Tensor | None,
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    assert_matches_reference(
        losses.Matryoshka2dLoss(
            model, _inner(inner, model), matryoshka_dims=[32, 8], n_dims_per_step=None, n_layers_per_step=None
        ),
        st_losses.Matryoshka2dLoss(
            reference_model, _inner(inner, reference_model), [32, 8], n_dims_per_step=-1, n_layers_per_step=-1
        ),
        model,
        reference_model,
        columns,
        labels,
    )


def _value_and_grads(loss: torch.nn.Module, model: SentenceEncoder, columns: Any, labels: Any) -> tuple[float, list]:
    model.zero_grad(set_to_none=True)
    value = loss(features(model, columns), labels)
    value.backward()
    return value.item(), [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


@pytest.mark.parametrize("mini_batch_size", [1, 3])
def test_matryoshka_over_a_cached_loss_equals_it_over_the_plain_loss(
    mini_batch_size: int, model: SentenceEncoder
) -> None:
    dims = {"matryoshka_dims": [32, 16, 4], "matryoshka_weights": [1.0, 0.3, 2.0]}
    plain = losses.MatryoshkaLoss(model, losses.MultipleNegativesRankingLoss(model), **dims)
    inner = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size)
    cached = losses.MatryoshkaLoss(model, inner, **dims)
    expected, expected_grads = _value_and_grads(plain, model, TRIPLETS, None)
    value, grads = _value_and_grads(cached, model, TRIPLETS, None)
    assert value == pytest.approx(expected, abs=1e-5)
    for ours, theirs in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5 * max(1.0, float(theirs.abs().max())))


def test_matryoshka_is_the_weighted_sum_of_the_inner_loss_on_normalised_prefixes(model: SentenceEncoder) -> None:
    torch.manual_seed(0)
    anchors, positives = torch.randn(6, 32), torch.randn(6, 32)
    inner = losses.MultipleNegativesRankingLoss(model)
    loss = losses.MatryoshkaLoss(model, inner, matryoshka_dims=[32, 4], matryoshka_weights=[1.0, 0.5])
    expected = inner.compute_loss_from_embeddings([anchors, positives]) + 0.5 * inner.compute_loss_from_embeddings(
        [anchors[:, :4], positives[:, :4]]
    )
    assert loss.compute_loss_from_embeddings([anchors, positives]).item() == pytest.approx(expected.item(), abs=1e-5)


def test_n_dims_per_step_trains_a_random_subset(model: SentenceEncoder) -> None:
    loss = losses.MatryoshkaLoss(model, "CoSENTLoss", matryoshka_dims=[32, 16, 8, 4], n_dims_per_step=2)
    torch.manual_seed(0)
    drawn = {tuple(d for d, _ in loss.dims_this_step()) for _ in range(30)}
    assert all(len(dims) == 2 and list(dims) == sorted(dims, reverse=True) for dims in drawn)
    assert len(drawn) > 1


def test_a_named_inner_loss_round_trips_through_the_config(model: SentenceEncoder) -> None:
    loss = losses.Matryoshka2dLoss(
        model, losses.CoSENTLoss(model, scale=10.0), matryoshka_dims=[32, 16], layer_weighting="linear"
    )
    config = loss.get_config_dict()
    assert config["loss"] == "CoSENTLoss" and config["loss_kwargs"] == {"scale": 10.0}
    assert losses.Matryoshka2dLoss(model, **config).get_config_dict() == config


@pytest.mark.parametrize(
    "make",
    [
        lambda m: losses.MatryoshkaLoss(m, "MultipleNegativesRankingLoss", matryoshka_dims=[32, 8]),
        lambda m: losses.MatryoshkaLoss(
            m, losses.CachedMultipleNegativesRankingLoss(m, mini_batch_size=4), matryoshka_dims=[32, 8]
        ),
        lambda m: losses.AdaptiveLayerLoss(m, "MultipleNegativesRankingLoss"),
        lambda m: losses.Matryoshka2dLoss(m, "MultipleNegativesRankingLoss", matryoshka_dims=[32, 8]),
    ],
    ids=["matryoshka", "matryoshka-cached", "adaptive-layer", "matryoshka-2d"],
)
def test_the_trainer_trains_with_a_wrapper_loss(make: Any, tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    rows = [{"anchor": a, "positive": p} for a, p in zip(ANCHORS, POSITIVES, strict=True)] * 2
    before = [p.detach().clone() for p in tiny_encoder.parameters()]
    config = TrainingConfig(
        epochs=1, batch_size=8, learning_rate=1e-3, output_dir=str(tmp_path), show_progress=False, seed=1
    )
    metrics = Trainer(tiny_encoder, loss=make(tiny_encoder), train_data=rows, config=config).train()
    assert metrics["train_steps"] == 2 and torch.isfinite(torch.tensor(metrics["train_loss"]))
    changed = [not torch.equal(b, p) for b, p in zip(before, tiny_encoder.parameters(), strict=True)]
    assert sum(changed) > len(changed) // 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"matryoshka_dims": []}, "matryoshka_dims must be a non-empty list"),
        ({"matryoshka_dims": [32, 0]}, r"each of matryoshka_dims must be an integer >= 1, found 0"),
        ({"matryoshka_dims": [64]}, "exceed the model's embedding size 32"),
        ({"matryoshka_dims": [16, 16]}, "must not repeat"),
        ({"matryoshka_dims": [32, 16], "matryoshka_weights": [1.0]}, "one number per dimension"),
        ({"matryoshka_dims": [32, 16], "matryoshka_weights": [0, 0]}, "all 0"),
        ({"matryoshka_dims": [32], "n_dims_per_step": 0}, "n_dims_per_step must be an integer >= 1"),
        ({"matryoshka_dims": [32], "loss_kwargs": {"scale": 2.0}}, "loss_kwargs only applies"),
    ],
)
def test_bad_matryoshka_settings_are_config_errors(
    kwargs: dict[str, Any], message: str, model: SentenceEncoder
) -> None:
    with pytest.raises(ConfigError, match=message):
        losses.MatryoshkaLoss(model, losses.CoSENTLoss(model), **kwargs)


def test_bad_inner_losses_are_config_errors(model: SentenceEncoder, tiny_encoder: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match="one of"):
        losses.MatryoshkaLoss(model, "NoSuchLoss", matryoshka_dims=[8])
    with pytest.raises(ConfigError, match="same model"):
        losses.MatryoshkaLoss(model, losses.CoSENTLoss(tiny_encoder), matryoshka_dims=[8])
    with pytest.raises(ConfigError, match="not another MatryoshkaLoss"):
        losses.MatryoshkaLoss(
            model, losses.MatryoshkaLoss(model, "CoSENTLoss", matryoshka_dims=[8]), matryoshka_dims=[8]
        )
    with pytest.raises(ConfigError, match="cannot wrap CachedMultipleNegativesRankingLoss"):
        losses.AdaptiveLayerLoss(model, losses.CachedMultipleNegativesRankingLoss(model))
    with pytest.raises(ConfigError, match="layer_weighting must be one of"):
        losses.AdaptiveLayerLoss(model, "CoSENTLoss", layer_weighting="cubic")  # type: ignore[arg-type]
    for self_embedding in (
        "ContrastiveTensionLoss",
        "ContrastiveTensionLossInBatchNegatives",
        "DenoisingAutoEncoderLoss",
    ):
        with pytest.raises(ConfigError, match="embeds with the model alone"):
            losses.MatryoshkaLoss(model, self_embedding, matryoshka_dims=[8])


def test_a_narrower_embedding_than_a_dimension_is_a_data_error(model: SentenceEncoder) -> None:
    loss = losses.MatryoshkaLoss(model, "CoSENTLoss", matryoshka_dims=[32, 8])
    with pytest.raises(DataError, match="exceeds the embedding size 16"):
        loss.compute_loss_from_embeddings([torch.randn(4, 16), torch.randn(4, 16)], SCORES[:4])
