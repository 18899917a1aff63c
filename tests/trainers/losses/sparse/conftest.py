"""Fixtures for the sparse loss tests: the tiny SPLADE, inference-free SPLADE and CSR models (tests/sparse_models.py),
each loaded by us and by the reference, in eval mode (no dropout), and a parity helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sentence_transformers import SparseEncoder as ReferenceSparseEncoder
from sentence_transformers.sparse_encoder.modules import SpladePooling as ReferenceSpladePooling
from torch import Tensor, nn

from sbert_plugins import SparseEncoder
from tests.trainers.losses.conftest import assert_same_gradients


def _pair(folder: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    reference = ReferenceSparseEncoder(str(folder), device="cpu").eval()
    for module in reference.modules():
        # In eval mode the reference's SpladePooling applies log1p in place, which breaks its backward; in
        # train mode it computes the same values out of place (it has no dropout).
        if isinstance(module, ReferenceSpladePooling):
            module.train()
    return SparseEncoder(folder, device="cpu").eval(), reference


@pytest.fixture(scope="session")
def splade_pair(splade_dir: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    """The tiny SPLADE model loaded by us and by the reference (the tests only leave gradients, reset each time)."""
    return _pair(splade_dir)


@pytest.fixture(scope="session")
def inference_free_pair(inference_free_dir: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    return _pair(inference_free_dir)


@pytest.fixture(scope="session")
def csr_pair(csr_dir: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    return _pair(csr_dir)


@pytest.fixture(autouse=True)
def dot_similarity(splade_pair: tuple[SparseEncoder, ReferenceSparseEncoder]) -> Iterator[None]:
    """The cosine losses switch the model to cosine (on both sides, as the reference does): switch it back."""
    yield
    for model in splade_pair:
        model.similarity_fn_name = "dot"


def our_features(model: SparseEncoder, columns: list[list[str]], tasks: list[str | None]) -> list[dict[str, Any]]:
    """One ``model.tokenize`` dict per column, routed by ``tasks`` (None: the default route)."""
    return [model.tokenize(list(texts), task=task) for texts, task in zip(columns, tasks, strict=True)]


def reference_features(
    model: ReferenceSparseEncoder, columns: list[list[str]], tasks: list[str | None]
) -> list[dict[str, Any]]:
    return [
        model.preprocess(list(texts)) if task is None else model.preprocess(list(texts), task=task)
        for texts, task in zip(columns, tasks, strict=True)
    ]


def reference_total(value: Tensor | dict[str, Tensor]) -> Tensor:
    """The reference's loss as the trainer sums it (its sparse losses return a dict of terms)."""
    if isinstance(value, dict):
        total, *others = value.values()
        for term in others:
            total = total + term
        return total
    return value


def assert_sparse_parity(
    ours: nn.Module,
    reference: nn.Module,
    pair: tuple[SparseEncoder, ReferenceSparseEncoder],
    columns: list[list[str]],
    labels: Tensor | None,
    *,
    tasks: list[str | None] | None = None,
    reference_labels: Any = None,
    atol: float = 1e-5,
    check_gradients: bool = False,
) -> float:
    """Both losses on the same batch agree within ``atol`` (relative beyond 1); returns ours.

    ``reference_labels`` replaces ``labels`` on the reference's side where it must be given them otherwise.

    With ``check_gradients`` every parameter's gradient agrees within ``10 * atol`` of its largest entry.
    """
    model, reference_model = pair
    tasks = tasks if tasks is not None else [None] * len(columns)
    model.zero_grad(set_to_none=True)
    reference_model.zero_grad(set_to_none=True)
    ours_value = ours(our_features(model, columns, tasks), None if labels is None else labels.clone())
    if reference_labels is None:
        reference_labels = None if labels is None else labels.clone()
    reference_value = reference_total(reference(reference_features(reference_model, columns, tasks), reference_labels))
    assert ours_value.dim() == 0
    tolerance = atol * max(1.0, abs(reference_value.item()))
    assert abs(ours_value.item() - reference_value.item()) < tolerance, (ours_value.item(), reference_value.item())
    if check_gradients:
        ours_value.backward()
        reference_value.backward()
        assert_gradients_match(model, reference_model, atol=10 * atol)
    return float(ours_value.item())


def assert_gradients_match(model: nn.Module, reference_model: nn.Module, *, atol: float) -> None:
    """:func:`assert_same_gradients`, and some parameter did receive a gradient."""
    assert_same_gradients(model, reference_model, atol=atol)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), "no gradient reached"
