"""Fixtures for the loss tests: our tiny model and the reference's copy of it, both in eval mode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn

from sbert_plugins import SentenceEncoder


@pytest.fixture(scope="session")
def model(tiny_model_dir: Path) -> SentenceEncoder:
    """The tiny model without dropout, shared by the tests (losses only leave gradients, which are reset)."""
    return SentenceEncoder(tiny_model_dir, device="cpu").eval()


@pytest.fixture(scope="session")
def reference_model(tiny_model_dir: Path) -> SentenceTransformer:
    """The same tiny folder loaded by the reference implementation, without dropout."""
    return SentenceTransformer(str(tiny_model_dir), device="cpu").eval()


def features(
    model: SentenceEncoder,
    columns: tuple[list[str], ...] | list[list[str]],
    tasks: Sequence[str | None] | None = None,
) -> list[dict[str, Tensor]]:
    """One ``model.tokenize`` dict per text column (routed by ``tasks`` through a Router; None: the default)."""
    tasks = tasks if tasks is not None else [None] * len(columns)
    return [model.tokenize(list(column), task=task) for column, task in zip(columns, tasks, strict=True)]


def reference_features(
    reference_model: Any,
    columns: tuple[list[str], ...] | list[list[str]],
    tasks: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """One ``reference_model.preprocess`` dict per text column, routed as :func:`features`."""
    tasks = tasks if tasks is not None else [None] * len(columns)
    return [
        reference_model.preprocess(list(column))
        if task is None
        else reference_model.preprocess(list(column), task=task)
        for column, task in zip(columns, tasks, strict=True)
    ]


def reference_total(value: Tensor | dict[str, Tensor]) -> Tensor:
    """The reference's loss as its trainer sums it (its sparse losses return a dict of terms)."""
    if not isinstance(value, dict):
        return value
    total, *others = value.values()
    for term in others:
        total = total + term
    return total


def assert_matches_reference(
    ours: nn.Module,
    reference: nn.Module,
    model: SentenceEncoder,
    reference_model: Any,
    columns: tuple[list[str], ...] | list[list[str]],
    labels: Tensor | None,
    *,
    tasks: Sequence[str | None] | None = None,
    reference_labels: Any = None,
    atol: float = 1e-5,
    check_gradients: bool = True,
) -> float:
    """Both losses on the same batch agree within ``atol`` (relative to the value when it exceeds 1); returns ours.

    float32 resolves about 7 significant digits, so for a loss of 200 an absolute 1e-5 is below the
    spacing of representable values; beyond 1 the tolerance therefore scales with the value.
    With ``check_gradients`` the gradients on every model parameter agree too (within ``10 * atol``
    of the largest gradient entry, as they pass through many more float32 operations).
    ``tasks`` routes each column through a Router; ``reference_labels`` replaces ``labels`` on the reference's
    side where it must be given them in another form.
    """
    ours.zero_grad(set_to_none=True)
    reference.zero_grad(set_to_none=True)
    ours_value = ours(features(model, columns, tasks), None if labels is None else labels.clone())
    if reference_labels is None:
        reference_labels = None if labels is None else labels.clone()
    reference_value = reference_total(reference(reference_features(reference_model, columns, tasks), reference_labels))
    assert ours_value.dim() == 0
    tolerance = atol * max(1.0, abs(reference_value.item()))
    assert abs(ours_value.item() - reference_value.item()) < tolerance, (ours_value.item(), reference_value.item())
    if check_gradients:
        ours_value.backward()
        reference_value.backward()
        assert_same_gradients(model, reference_model, atol=10 * atol)
    return float(ours_value.item())


def assert_same_gradients(model: nn.Module, reference_model: nn.Module, *, atol: float) -> None:
    """Every parameter's gradient agrees within ``atol`` times its largest entry (at least 1); names are mapped
    (our ``auto_model`` is the reference's ``model``)."""
    reference_grads = {name: p.grad for name, p in reference_model.named_parameters()}
    for name, parameter in model.named_parameters():
        theirs = reference_grads[name.replace(".auto_model.", ".model.")]
        ours_grad = parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
        theirs = theirs if theirs is not None else torch.zeros_like(parameter)
        scale = max(1.0, float(theirs.abs().max()))
        torch.testing.assert_close(ours_grad, theirs, rtol=0, atol=atol * scale, msg=name)
