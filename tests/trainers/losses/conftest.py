"""Fixtures for the loss tests: our tiny model and the reference's copy of it, both in eval mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn

from sbert_plugins import SentenceEncoder


@pytest.fixture()
def model(tiny_encoder: SentenceEncoder) -> SentenceEncoder:
    """The tiny model without dropout, so two forwards of one batch agree."""
    return tiny_encoder.eval()


@pytest.fixture(scope="session")
def reference_model(tiny_model_dir: Path) -> SentenceTransformer:
    """The same tiny folder loaded by the reference implementation, without dropout."""
    return SentenceTransformer(str(tiny_model_dir), device="cpu").eval()


def features(model: SentenceEncoder, columns: tuple[list[str], ...] | list[list[str]]) -> list[dict[str, Tensor]]:
    """One ``model.tokenize`` dict per text column."""
    return [model.tokenize(list(column)) for column in columns]


def assert_matches_reference(
    ours: nn.Module,
    reference: nn.Module,
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
    columns: tuple[list[str], ...] | list[list[str]],
    labels: Tensor | None,
    *,
    atol: float = 1e-5,
) -> float:
    """Both losses on the same batch agree within ``atol`` (relative to the value when it exceeds 1); returns ours.

    float32 resolves about 7 significant digits, so for a loss of 200 an absolute 1e-5 is below the
    spacing of representable values; beyond 1 the tolerance therefore scales with the value.
    """
    ours_value = ours(features(model, columns), None if labels is None else labels.clone())
    reference_features = [reference_model.preprocess(list(column)) for column in columns]
    reference_value = reference(reference_features, None if labels is None else labels.clone())
    assert ours_value.dim() == 0
    tolerance = atol * max(1.0, abs(reference_value.item()))
    assert abs(ours_value.item() - reference_value.item()) < tolerance, (ours_value.item(), reference_value.item())
    return float(ours_value.item())
