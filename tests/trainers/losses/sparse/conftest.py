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
from tests.trainers.losses.conftest import assert_matches_reference


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


def assert_sparse_parity(
    ours: nn.Module,
    reference: nn.Module,
    pair: tuple[SparseEncoder, ReferenceSparseEncoder],
    columns: list[list[str]],
    labels: Tensor | None,
    *,
    check_gradients: bool = False,
    **options: Any,
) -> float:
    """:func:`assert_matches_reference` on the pair's models (``options``: tasks, reference_labels, atol); with
    ``check_gradients`` some parameter must also have received a gradient. Returns our loss."""
    model, reference_model = pair
    value = assert_matches_reference(
        ours, reference, model, reference_model, columns, labels, check_gradients=check_gradients, **options
    )
    if check_gradients:
        assert_received_gradient(model)
    return value


def assert_received_gradient(model: nn.Module) -> None:
    """Some parameter of ``model`` holds a non-zero gradient (so a gradient comparison compared something)."""
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), "no gradient reached"
