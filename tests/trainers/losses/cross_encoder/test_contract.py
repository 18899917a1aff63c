"""The contract every exported cross-encoder loss keeps: takes texts, a finite scalar with finite gradients,
a JSON config that rebuilds it, bad columns and labels rejected with DataError, a wrong model refused."""

from __future__ import annotations

import json

import pytest
import torch

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import ConfigError, DataError
from trainers.losses import cross_encoder as losses

from .conftest import CASES, QUERIES, ROWS


def build(name: str, model: CrossEncoder, model3: CrossEncoder) -> torch.nn.Module:
    case = CASES[name]
    return getattr(losses, name)(model3 if case.three_labels else model, **case.kwargs)


def test_every_exported_loss_has_a_case_and_the_docstring_sections() -> None:
    assert sorted(losses.__all__) == sorted(CASES)
    for name in losses.__all__:
        cls = getattr(losses, name)
        assert issubclass(cls, torch.nn.Module) and cls.takes_texts is True
        for section in ("Args:", "Inputs:", "Reference:", "Relations:", "Example:"):
            assert section in (cls.__doc__ or ""), f"{name} docstring lacks {section}"


@pytest.mark.parametrize("name", losses.__all__)
def test_finite_scalar_with_finite_gradients(name: str, model: CrossEncoder, model3: CrossEncoder) -> None:
    loss = build(name, model.train(), model3.train())
    case = CASES[name]
    value = loss(case.columns, case.labels)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    trained = loss.model
    grads = [p.grad for p in trained.parameters() if p.grad is not None]
    assert grads, f"{name}: no gradient reached the model"
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0, f"{name}: the batch gives a zero gradient"


@pytest.mark.parametrize("name", losses.__all__)
def test_config_is_json_and_rebuilds_the_same_loss(name: str, model: CrossEncoder, model3: CrossEncoder) -> None:
    loss = build(name, model, model3)
    config = loss.get_config_dict()
    restored = json.loads(json.dumps(config))
    assert restored == config
    assert getattr(losses, name)(loss.model, **restored).get_config_dict() == config


@pytest.mark.parametrize("name", losses.__all__)
def test_bad_columns_are_data_errors(name: str, model: CrossEncoder, model3: CrossEncoder) -> None:
    loss = build(name, model, model3)
    case = CASES[name]
    with pytest.raises(DataError, match="text column"):
        loss(case.columns[: loss.min_columns - 1], case.labels)
    if loss.max_columns is not None:
        with pytest.raises(DataError, match="text column"):
            loss([*case.columns, QUERIES], case.labels)
    with pytest.raises(DataError, match="same number of rows"):
        loss([case.columns[0][:-1], *case.columns[1:]], case.labels)
    with pytest.raises(DataError, match="row 2 is int"):
        loss([[*case.columns[0][:2], 7, *case.columns[0][3:]], *case.columns[1:]], case.labels)
    with pytest.raises(DataError, match="list of text columns"):
        loss("a query", case.labels)


@pytest.mark.parametrize("name", [n for n in losses.__all__ if CASES[n].labels is not None])
def test_missing_or_misshapen_labels_are_data_errors(name: str, model: CrossEncoder, model3: CrossEncoder) -> None:
    loss = build(name, model, model3)
    case = CASES[name]
    with pytest.raises(DataError, match="labels=None"):
        loss(case.columns, None)
    with pytest.raises(DataError):
        loss(case.columns, case.labels[: ROWS - 1])
    bad = case.labels.clone().float()
    bad.view(-1)[1] = float("nan")
    with pytest.raises(DataError):
        loss(case.columns, bad)


@pytest.mark.parametrize("name", losses.__all__)
def test_a_model_with_the_wrong_number_of_labels_is_refused(
    name: str, model: CrossEncoder, model3: CrossEncoder
) -> None:
    wrong = model if CASES[name].three_labels else model3
    with pytest.raises(ConfigError, match="num_labels"):
        getattr(losses, name)(wrong, **CASES[name].kwargs)
    with pytest.raises(TypeError, match="CrossEncoder"):
        getattr(losses, name)(torch.nn.Linear(2, 2), **CASES[name].kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("BinaryCrossEntropyLoss", {"pos_weight": 0}, "pos_weight"),
        ("BinaryCrossEntropyLoss", {"activation": "relu"}, "activation"),
        ("MultipleNegativesRankingLoss", {"num_negatives": 0}, "num_negatives"),
        ("MultipleNegativesRankingLoss", {"scale": -1.0}, "scale"),
        ("MultipleNegativesRankingLoss", {"first_stage_scale": 0.0}, "first_stage_scale"),
        ("LambdaLoss", {"weighting_scheme": "ndcg"}, "weighting_scheme"),
        ("LambdaLoss", {"k": 0}, "k must be"),
        ("LambdaLoss", {"reduction_log": "ten"}, "reduction_log"),
        ("PListMLELoss", {"lambda_weight": "linear"}, "lambda_weight"),
        ("ListNetLoss", {"mini_batch_size": 0}, "mini_batch_size"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(name: str, kwargs: dict, message: str, model: CrossEncoder) -> None:
    with pytest.raises(ConfigError, match=message):
        getattr(losses, name)(model, **kwargs)


def test_a_first_stage_that_is_not_a_sentence_encoder_is_a_type_error(model: CrossEncoder) -> None:
    with pytest.raises(TypeError, match="first_stage must be a SentenceEncoder"):
        losses.MultipleNegativesRankingLoss(model, first_stage=model)  # type: ignore[arg-type]


def test_a_bi_encoder_loss_given_a_cross_encoder_names_the_cross_encoder_loss(model: CrossEncoder) -> None:
    from trainers import losses as all_losses

    with pytest.raises(TypeError, match=r"trainers\.losses\.cross_encoder\.MSELoss"):
        all_losses.MSELoss(model)  # type: ignore[arg-type]


def test_losses_without_a_bi_encoder_namesake_are_exported_at_the_top_level() -> None:
    from trainers import losses as all_losses

    for name in losses.__all__:
        exported = getattr(all_losses, name)
        assert (exported is getattr(losses, name)) == (
            name not in {"MSELoss", "MarginMSELoss", "MultipleNegativesRankingLoss"}
        )
