"""A small batch for every exported loss: how to build it and what to feed it (used by the contract tests)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sbert_plugins import SentenceEncoder
from tests.conftest import build_tiny_modules

ANCHORS = [
    "a man plays guitar",
    "a woman eats bread",
    "the dog runs in the park",
    "two children swim in the water",
    "a girl is reading a book",
    "the cat sleeps on the chair",
    "people dance to the music",
    "a boy kicks a ball",
]
POSITIVES = [
    "a man is playing the guitar",
    "the woman is eating food",
    "a dog is running in a park",
    "children swimming",
    "a young girl reading",
    "a cat sitting on a chair",
    "a group of people dancing",
    "the boy kicks the ball in the street",
]
NEGATIVES = [
    "a woman cooks in the kitchen",
    "the man drives a car",
    "a bird sings a song",
    "an old man walks on the road",
    "the sun is big",
    "a horse runs",
    "a child writes a letter",
    "people sit at a table",
]
SECOND_NEGATIVES = [
    "the moon at night",
    "a red car on the road",
    "a small green tree",
    "what is a sentence embedding",
    "the city is big and new",
    "a phone and a computer",
    "a sad old dog",
    "two women sing",
]
ROWS = len(ANCHORS)

SCORES = torch.tensor([1.0, 0.8, 0.9, 0.2, 0.5, 0.0, 0.7, 0.3])
BINARY = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
CLASSES = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
NLI = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
TEACHER = torch.randn(ROWS, 32, generator=torch.Generator().manual_seed(0))
TEACHER_SCORES = torch.tensor([[9.0, 1.0, -2.0], [4.0, 3.5, 0.0], [7.0, 2.0, 1.0], [1.0, 0.0, 0.5]]).repeat(2, 1)
# Contrastive tension pairs: rows 0, 3 and 6 are the same sentence twice (label 1 when derived from tokens).
TENSION_B = [ANCHORS[i] if i % 3 == 0 else NEGATIVES[i] for i in range(ROWS)]
# TSDAE rows: the original sentences with words deleted.
DAMAGED = [
    "man guitar",
    "woman bread",
    "dog runs park",
    "children water",
    "girl book",
    "cat chair",
    "dance",
    "boy ball",
]


def _saved_guide() -> str:
    """A guide for the GIST losses, given by folder as from JSON: other weights, a shorter max_seq_length
    (so the texts are tokenized again for it)."""
    root = Path(tempfile.mkdtemp(prefix="gist-guide-"))
    atexit.register(shutil.rmtree, root, True)
    modules = build_tiny_modules(root / "build", seed=1, max_seq_length=32)
    SentenceEncoder(modules=modules, device="cpu").save(root / "model")
    return str(root / "model")


GUIDE = _saved_guide()


@dataclass(frozen=True)
class Case:
    """How to build one loss (``kwargs``) and a batch for it (text ``columns`` and ``labels``)."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    columns: tuple[list[str], ...] = (ANCHORS, POSITIVES)
    labels: Tensor | None = None


CASES: dict[str, Case] = {
    "CosineSimilarityLoss": Case(labels=SCORES),
    "MultipleNegativesRankingLoss": Case(columns=(ANCHORS, POSITIVES, NEGATIVES)),
    "CoSENTLoss": Case(labels=SCORES),
    "AnglELoss": Case(labels=SCORES),
    "ContrastiveLoss": Case(labels=BINARY),
    "OnlineContrastiveLoss": Case(labels=BINARY),
    "TripletLoss": Case(columns=(ANCHORS, POSITIVES, NEGATIVES)),
    "BatchHardTripletLoss": Case(columns=(ANCHORS,), labels=CLASSES),
    "BatchHardSoftMarginTripletLoss": Case(columns=(ANCHORS,), labels=CLASSES),
    "BatchSemiHardTripletLoss": Case(columns=(ANCHORS,), labels=CLASSES),
    "BatchAllTripletLoss": Case(columns=(ANCHORS,), labels=CLASSES),
    "MSELoss": Case(labels=TEACHER),
    "MarginMSELoss": Case(columns=(ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES), labels=TEACHER_SCORES),
    "SoftmaxLoss": Case(kwargs={"num_labels": 3}, columns=(ANCHORS, NEGATIVES), labels=NLI),
    "CachedMultipleNegativesRankingLoss": Case(kwargs={"mini_batch_size": 3}, columns=(ANCHORS, POSITIVES, NEGATIVES)),
    "MultipleNegativesSymmetricRankingLoss": Case(columns=(ANCHORS, POSITIVES, NEGATIVES)),
    "CachedMultipleNegativesSymmetricRankingLoss": Case(
        kwargs={"mini_batch_size": 3}, columns=(ANCHORS, POSITIVES, NEGATIVES)
    ),
    "GISTEmbedLoss": Case(kwargs={"guide": GUIDE}, columns=(ANCHORS, POSITIVES, NEGATIVES)),
    "CachedGISTEmbedLoss": Case(kwargs={"guide": GUIDE, "mini_batch_size": 3}, columns=(ANCHORS, POSITIVES, NEGATIVES)),
    "MegaBatchMarginLoss": Case(kwargs={"mini_batch_size": 3}),
    "MatryoshkaLoss": Case(
        kwargs={"loss": "MultipleNegativesRankingLoss", "matryoshka_dims": [32, 16, 8]},
        columns=(ANCHORS, POSITIVES, NEGATIVES),
    ),
    "AdaptiveLayerLoss": Case(kwargs={"loss": "CoSENTLoss"}, labels=SCORES),
    "Matryoshka2dLoss": Case(kwargs={"loss": "CoSENTLoss", "matryoshka_dims": [32, 8]}, labels=SCORES),
    "GlobalOrthogonalRegularizationLoss": Case(),
    "DistillKLDivLoss": Case(columns=(ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES), labels=TEACHER_SCORES),
    "EmbedDistillLoss": Case(labels=TEACHER),
    "ContrastiveTensionLoss": Case(columns=(ANCHORS, TENSION_B)),
    "ContrastiveTensionLossInBatchNegatives": Case(columns=(ANCHORS,)),
    "DenoisingAutoEncoderLoss": Case(columns=(DAMAGED, ANCHORS)),
}
