"""Fixtures for the cross-encoder loss tests: a tiny one-label and three-label cross-encoder, ours and the
reference's copy of each, without dropout, and the batches every loss is fed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import CrossEncoder as ReferenceCrossEncoder

from sbert_plugins.cross_encoder import CrossEncoder
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier

QUERIES = ["a man plays guitar", "a woman eats bread", "the dog runs in the park", "a girl is reading a book"]
POSITIVES = ["a man is playing the guitar", "the woman is eating food", "a dog is running", "a young girl reading"]
NEGATIVES = ["a woman cooks in the kitchen", "the man drives a car", "a bird sings a song", "the sun is big"]
SECOND_NEGATIVES = ["the moon at night", "a red car on the road", "a small green tree", "two women sing"]
ROWS = len(QUERIES)

# Graded lists of three documents per query (the trainer's wide layout) ...
LIST_COLUMNS = [QUERIES, POSITIVES, NEGATIVES, SECOND_NEGATIVES]
LIST_LABELS = torch.tensor([[2.0, 1.0, 0.0], [1.0, 0.0, 0.0], [3.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
# ... and lists of different lengths (the reference layout).
RAGGED_DOCUMENTS = [
    [POSITIVES[0], NEGATIVES[0], SECOND_NEGATIVES[0], "a boy kicks a ball"],
    [POSITIVES[1]],
    [POSITIVES[2], NEGATIVES[2]],
    [NEGATIVES[3], POSITIVES[3], SECOND_NEGATIVES[3]],
]
RAGGED_LABELS = [
    torch.tensor([3.0, 0.0, 1.0, 0.0]),
    torch.tensor([1.0]),
    torch.tensor([1.0, 0.0]),
    torch.tensor([0.0, 2.0, 1.0]),
]


@dataclass(frozen=True)
class Case:
    """How to feed one loss: its text columns, labels and constructor arguments (``three_labels``: a
    model with num_labels=3)."""

    columns: list[Any]
    labels: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    three_labels: bool = False


CASES: dict[str, Case] = {
    "BinaryCrossEntropyLoss": Case([QUERIES, POSITIVES], torch.tensor([1.0, 0.0, 1.0, 0.0])),
    "CrossEntropyLoss": Case([QUERIES, POSITIVES], torch.tensor([0, 2, 1, 2]), three_labels=True),
    "MSELoss": Case([QUERIES, POSITIVES], torch.tensor([2.5, -1.0, 0.5, 0.0])),
    "MarginMSELoss": Case([QUERIES, POSITIVES, NEGATIVES], torch.tensor([3.0, 1.0, -0.5, 2.0])),
    "MultipleNegativesRankingLoss": Case([QUERIES, POSITIVES, NEGATIVES], None, {"num_negatives": 2}),
    "ListNetLoss": Case(LIST_COLUMNS, LIST_LABELS),
    "ListMLELoss": Case(LIST_COLUMNS, LIST_LABELS, {"respect_input_order": False}),
    "PListMLELoss": Case(LIST_COLUMNS, LIST_LABELS, {"respect_input_order": False}),
    "LambdaLoss": Case(LIST_COLUMNS, LIST_LABELS),
    "RankNetLoss": Case(LIST_COLUMNS, LIST_LABELS),
}


@pytest.fixture(scope="session")
def ce_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("ce-loss") / "model", seed=3)


@pytest.fixture(scope="session")
def ce3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("ce3-loss") / "model", num_labels=3, seed=4)


@pytest.fixture()
def model(ce_dir: Path) -> CrossEncoder:
    return CrossEncoder(ce_dir, device="cpu").eval()


@pytest.fixture()
def model3(ce3_dir: Path) -> CrossEncoder:
    return CrossEncoder(ce3_dir, device="cpu").eval()


@pytest.fixture(scope="session")
def reference_model(ce_dir: Path) -> ReferenceCrossEncoder:
    return ReferenceCrossEncoder(str(ce_dir), device="cpu").eval()


@pytest.fixture(scope="session")
def reference_model3(ce3_dir: Path) -> ReferenceCrossEncoder:
    return ReferenceCrossEncoder(str(ce3_dir), device="cpu").eval()
