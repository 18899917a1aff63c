"""The contract every exported loss keeps: scalar, finite gradients, JSON config, wrong shapes rejected."""

from __future__ import annotations

import json

import pytest
import torch

from sbert_plugins import DataError, SentenceEncoder
from trainers import losses

from .cases import CASES, ROWS
from .conftest import features


def build(name: str, model: SentenceEncoder) -> torch.nn.Module:
    return getattr(losses, name)(model, **CASES[name].kwargs)


def test_every_exported_loss_has_a_case_and_a_module() -> None:
    assert sorted(losses.EMBEDDING_LOSSES) == sorted(CASES)
    for name in losses.EMBEDDING_LOSSES:
        cls = getattr(losses, name)
        assert issubclass(cls, torch.nn.Module)
        for section in ("Args:", "Inputs:", "Reference:", "Relations:", "Example:"):
            assert section in (cls.__doc__ or ""), f"{name} docstring lacks {section}"


@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_finite_scalar_with_finite_gradients(name: str, tiny_encoder: SentenceEncoder) -> None:
    model = tiny_encoder.train()
    torch.manual_seed(0)  # dropout masks: unseeded, OnlineContrastiveLoss found no hard pair in some test orders
    loss = build(name, model)
    case = CASES[name]
    value = loss(features(model, case.columns), case.labels)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads, f"{name}: no gradient reached the model"
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0, f"{name}: the batch gives a zero gradient"


@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_config_is_json_and_rebuilds_the_same_loss(name: str, model: SentenceEncoder) -> None:
    config = build(name, model).get_config_dict()
    restored = json.loads(json.dumps(config))
    assert restored == config
    assert getattr(losses, name)(model, **restored).get_config_dict() == config


@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_wrong_number_of_columns_is_a_data_error(name: str, model: SentenceEncoder) -> None:
    loss = build(name, model)
    case = CASES[name]
    too_few = case.columns[: loss.min_columns - 1]
    if too_few:
        with pytest.raises(DataError, match="text column"):
            loss(features(model, too_few), case.labels)
    if loss.max_columns is not None:
        too_many = (*case.columns, *([case.columns[0]] * (loss.max_columns + 1 - len(case.columns))))
        with pytest.raises(DataError, match="text column"):
            loss(features(model, too_many), case.labels)
    with pytest.raises(DataError, match="list of feature dicts"):
        loss(features(model, case.columns)[0], case.labels)


@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_labels_of_the_wrong_shape_are_a_data_error(name: str, model: SentenceEncoder) -> None:
    case = CASES[name]
    if case.labels is None:
        pytest.skip(f"{name} takes no labels")
    loss = build(name, model)
    with pytest.raises(DataError):
        loss(features(model, case.columns), case.labels[: ROWS - 1])
    with pytest.raises(DataError, match="labels=None"):
        loss(features(model, case.columns), None)


@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_columns_of_different_lengths_are_a_data_error(name: str, model: SentenceEncoder) -> None:
    loss = build(name, model)
    case = CASES[name]
    if len(case.columns) < 2:
        pytest.skip(f"{name} takes one column")
    columns = (case.columns[0][:-1], *case.columns[1:])
    with pytest.raises(DataError, match="same number of rows"):
        loss(features(model, columns), case.labels[:-1] if case.labels is not None else None)


@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_loss_maths_stays_float32_under_bf16_autocast(name: str, model: SentenceEncoder) -> None:
    loss = build(name, model)
    case = CASES[name]
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        value = loss(features(model, case.columns), case.labels)
    assert value.dtype == torch.float32 and torch.isfinite(value)


def test_forward_leaves_the_callers_features_untouched(model: SentenceEncoder) -> None:
    batch = features(model, CASES["CosineSimilarityLoss"].columns)
    keys = [set(column) for column in batch]
    build("CosineSimilarityLoss", model)(batch, CASES["CosineSimilarityLoss"].labels)
    assert [set(column) for column in batch] == keys


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", losses.EMBEDDING_LOSSES)
def test_cpu_features_reach_a_cuda_model(name: str, tiny_encoder: SentenceEncoder) -> None:
    model = tiny_encoder.to("cuda")
    case = CASES[name]
    value = build(name, model)(features(model, case.columns), case.labels)
    assert value.device.type == "cuda" and torch.isfinite(value)
    value.backward()
