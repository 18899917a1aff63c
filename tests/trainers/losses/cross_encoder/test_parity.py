"""Every cross-encoder loss equals the reference implementation's (sentence_transformers.cross_encoder.losses)
on the same tiny model and batch: values within 1e-5, gradients on every weight too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from sentence_transformers import CrossEncoder as ReferenceCrossEncoder
from sentence_transformers.cross_encoder import losses as reference_losses
from torch import Tensor, nn

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses import cross_encoder as losses

from .conftest import (
    LIST_COLUMNS,
    LIST_LABELS,
    NEGATIVES,
    POSITIVES,
    QUERIES,
    RAGGED_DOCUMENTS,
    RAGGED_LABELS,
    SECOND_NEGATIVES,
)

ACTIVATIONS: dict[str, nn.Module] = {"identity": nn.Identity(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}


def weights(model: CrossEncoder | ReferenceCrossEncoder) -> list[nn.Parameter]:
    inner = model.model if isinstance(model, CrossEncoder) else model[0].model
    return list(inner.parameters())


def assert_same(
    ours: nn.Module,
    reference: nn.Module,
    ours_inputs: tuple[Any, Any],
    reference_inputs: tuple[Any, Any],
    *,
    seed: int | None = None,
) -> float:
    """Values within 1e-5 and gradients within 1e-4 of the largest entry; returns our value."""
    values, grads = [], []
    for loss, inputs in ((ours, ours_inputs), (reference, reference_inputs)):
        loss.model.zero_grad(set_to_none=True)
        if seed is not None:
            torch.manual_seed(seed)
        value = loss(*inputs)
        value.backward()
        values.append(float(value.detach()))
        grads.append([p.grad if p.grad is not None else torch.zeros_like(p) for p in weights(loss.model)])
    assert values[0] == pytest.approx(values[1], abs=1e-5), values
    largest = max(float(g.abs().max()) for g in grads[1])
    for mine, theirs in zip(*grads, strict=True):
        assert torch.allclose(mine, theirs, atol=max(1e-4 * largest, 1e-7)), "gradients differ"
    return values[0]


@pytest.mark.parametrize("activation", ["identity", "sigmoid"])
def test_binary_cross_entropy(model: CrossEncoder, reference_model: ReferenceCrossEncoder, activation: str) -> None:
    labels = torch.tensor([1.0, 0.0, 0.7, 0.0])
    ours = losses.BinaryCrossEntropyLoss(model, activation=activation, pos_weight=3.0)  # type: ignore[arg-type]
    ref = reference_losses.BinaryCrossEntropyLoss(
        reference_model, activation_fn=ACTIVATIONS[activation], pos_weight=torch.tensor(3.0)
    )
    columns = [QUERIES, POSITIVES]
    assert_same(ours, ref, (columns, labels), (columns, labels))
    plain = losses.BinaryCrossEntropyLoss(model)
    assert_same(plain, reference_losses.BinaryCrossEntropyLoss(reference_model), (columns, labels), (columns, labels))


def test_cross_entropy(model3: CrossEncoder, reference_model3: ReferenceCrossEncoder) -> None:
    labels = torch.tensor([0, 2, 1, 2])
    columns = [QUERIES, NEGATIVES]
    assert_same(
        losses.CrossEntropyLoss(model3),
        reference_losses.CrossEntropyLoss(reference_model3),
        (columns, labels),
        (columns, labels),
    )


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_mse(model: CrossEncoder, reference_model: ReferenceCrossEncoder, activation: str) -> None:
    labels = torch.tensor([2.5, -1.0, 0.5, 0.0])
    ours = losses.MSELoss(model, activation=activation)  # type: ignore[arg-type]
    ref = reference_losses.MSELoss(reference_model, activation_fn=ACTIVATIONS[activation])
    assert_same(ours, ref, ([QUERIES, POSITIVES], labels), ([QUERIES, POSITIVES], labels))


@pytest.mark.parametrize(
    ("columns", "labels"),
    [
        ([QUERIES, POSITIVES, NEGATIVES], torch.tensor([3.0, 1.0, -0.5, 2.0])),
        ([QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES], torch.tensor([[3.0, 1.0], [0.5, 2.0], [1.0, 1.0], [4, 0]])),
        (
            [QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES],
            torch.tensor([[9.0, 3.0, 1.0], [4.0, 2.0, 3.0], [1.0, 0.0, 0.0], [2.0, 5.0, -1.0]]),
        ),
    ],
    ids=["margins-n1", "margins-n2", "scores-n2"],
)
def test_margin_mse(model: CrossEncoder, reference_model: ReferenceCrossEncoder, columns: list, labels: Tensor) -> None:
    assert_same(
        losses.MarginMSELoss(model),
        reference_losses.MarginMSELoss(reference_model),
        (columns, labels),
        (columns, labels),
    )


@pytest.mark.parametrize(
    ("columns", "num_negatives", "activation", "scale"),
    [
        ([QUERIES, POSITIVES], 2, "sigmoid", 10.0),
        ([QUERIES, POSITIVES], None, "sigmoid", 10.0),
        ([QUERIES, POSITIVES, NEGATIVES], 4, "identity", 1.0),
        ([QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES], 3, "sigmoid", 20.0),
        ([QUERIES, POSITIVES, NEGATIVES], 100, "tanh", 5.0),
    ],
)
def test_multiple_negatives_ranking(
    model: CrossEncoder,
    reference_model: ReferenceCrossEncoder,
    columns: list,
    num_negatives: int | None,
    activation: str,
    scale: float,
) -> None:
    ours = losses.MultipleNegativesRankingLoss(
        model,
        num_negatives=num_negatives,
        scale=scale,
        activation=activation,  # type: ignore[arg-type]
    )
    ref = reference_losses.MultipleNegativesRankingLoss(
        reference_model, num_negatives=num_negatives, scale=scale, activation_fn=ACTIVATIONS[activation]
    )
    for seed in (0, 1):
        assert_same(ours, ref, (columns, None), (columns, None), seed=seed)


def test_multiple_negatives_ranking_never_samples_the_rows_own_documents(model: CrossEncoder) -> None:
    loss = losses.MultipleNegativesRankingLoss(model, num_negatives=3)
    for seed in range(5):
        torch.manual_seed(seed)
        negatives = loss.in_batch_negatives([POSITIVES, NEGATIVES])
        assert len(negatives) == 3
        for column in negatives:
            for row, doc in enumerate(column):
                assert doc not in (POSITIVES[row], NEGATIVES[row])


# ---- listwise ------------------------------------------------------------------------------------


def nested(columns: list[list[str]], labels: Tensor) -> tuple[list[Any], list[Tensor]]:
    """The reference's layout of a wide batch: queries, one document list per query, one label row each."""
    return [columns[0], [list(row) for row in zip(*columns[1:], strict=True)]], list(labels.unbind(0))


LISTWISE: dict[str, tuple[Callable[..., nn.Module], Callable[..., nn.Module], list[dict[str, Any]]]] = {
    "ListNetLoss": (
        losses.ListNetLoss,
        reference_losses.ListNetLoss,
        [{}, {"activation": "sigmoid"}, {"mini_batch_size": 5}],
    ),
    "ListMLELoss": (
        losses.ListMLELoss,
        reference_losses.ListMLELoss,
        [{}, {"respect_input_order": False}, {"respect_input_order": False, "activation": "tanh"}],
    ),
    "PListMLELoss": (
        losses.PListMLELoss,
        reference_losses.PListMLELoss,
        [{}, {"respect_input_order": False}, {"respect_input_order": False, "mini_batch_size": 3}],
    ),
    "LambdaLoss": (
        losses.LambdaLoss,
        reference_losses.LambdaLoss,
        [{}, {"k": 2}, {"sigma": 2.0, "reduction_log": "natural"}, {"activation": "sigmoid", "mini_batch_size": 7}],
    ),
    "RankNetLoss": (losses.RankNetLoss, reference_losses.RankNetLoss, [{}, {"k": 1, "sigma": 0.5}]),
}


def reference_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    result = dict(kwargs)
    if "activation" in result:
        result["activation_fn"] = ACTIVATIONS[result.pop("activation")]
    return result


@pytest.mark.parametrize(
    ("name", "kwargs"), [(name, kwargs) for name, (_, _, variants) in LISTWISE.items() for kwargs in variants]
)
@pytest.mark.parametrize("layout", ["wide", "ragged"])
def test_listwise_losses(
    model: CrossEncoder, reference_model: ReferenceCrossEncoder, name: str, kwargs: dict[str, Any], layout: str
) -> None:
    ours_cls, reference_cls, _ = LISTWISE[name]
    ours = ours_cls(model, **kwargs)
    ref = reference_cls(reference_model, **reference_kwargs(kwargs))
    if layout == "wide":
        assert_same(ours, ref, (LIST_COLUMNS, LIST_LABELS), nested(LIST_COLUMNS, LIST_LABELS))
    else:
        inputs = ([QUERIES, RAGGED_DOCUMENTS], RAGGED_LABELS)
        assert_same(ours, ref, inputs, inputs)


@pytest.mark.parametrize("scheme", ["ndcg_loss2pp", "ndcg_loss2", "ndcg_loss1", "lambda_rank", "none"])
@pytest.mark.parametrize("layout", ["wide", "ragged"])
def test_lambda_loss_weighting_schemes(
    model: CrossEncoder, reference_model: ReferenceCrossEncoder, scheme: str, layout: str
) -> None:
    reference_schemes = {
        "ndcg_loss2pp": reference_losses.NDCGLoss2PPScheme(mu=5.0),
        "ndcg_loss2": reference_losses.NDCGLoss2Scheme(),
        "ndcg_loss1": reference_losses.NDCGLoss1Scheme(),
        "lambda_rank": reference_losses.LambdaRankScheme(),
        "none": reference_losses.NoWeightingScheme(),
    }
    ours = losses.LambdaLoss(model, weighting_scheme=scheme, mu=5.0)  # type: ignore[arg-type]
    ref = reference_losses.LambdaLoss(reference_model, weighting_scheme=reference_schemes[scheme])
    if layout == "wide":
        value = assert_same(ours, ref, (LIST_COLUMNS, LIST_LABELS), nested(LIST_COLUMNS, LIST_LABELS))
    else:
        inputs = ([QUERIES, RAGGED_DOCUMENTS], RAGGED_LABELS)
        value = assert_same(ours, ref, inputs, inputs)
    assert value > 0
