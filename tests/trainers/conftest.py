"""Fixtures for the trainer tests: small labelled pair data over the tiny model's vocabulary, and a tiny evaluator."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.sparse_models import csr_dir as csr_dir  # the tiny sparse model fixtures
from tests.sparse_models import inference_free_dir as inference_free_dir
from tests.sparse_models import splade_dir as splade_dir
from tests.sparse_models import tiny_mlm_dir as tiny_mlm_dir

_SUBJECTS = ["a man", "a woman", "a child", "the dog", "the cat", "two people", "a boy", "a girl"]
_ACTIONS = ["plays guitar", "eats bread", "runs in the park", "sits on a chair", "reads a book", "sings a song"]


def make_pair_rows(count: int = 40) -> list[dict[str, Any]]:
    """``count`` rows {sentence1, sentence2, label} whose score is 1.0 for equal actions and lower otherwise."""
    rows = []
    for i in range(count):
        subject = _SUBJECTS[i % len(_SUBJECTS)]
        first = _ACTIONS[i % len(_ACTIONS)]
        second = _ACTIONS[(i * 7 + 3) % len(_ACTIONS)]
        label = 1.0 if first == second else round(0.1 * (i % 5), 2)
        rows.append({"sentence1": f"{subject} {first}", "sentence2": f"{subject} {second}", "label": label})
    return rows


@pytest.fixture()
def pair_rows() -> list[dict[str, Any]]:
    return make_pair_rows()


class NormEvaluator:
    """A tiny evaluator: the mean embedding norm of a few texts (it changes as the model trains)."""

    primary_metric = "mean_norm"

    def __init__(self, greater_is_better: bool = True) -> None:
        self.greater_is_better = greater_is_better
        self.calls = 0

    def __call__(self, model: Any) -> dict[str, float]:
        self.calls += 1
        embeddings = model.encode(["a man plays guitar", "the dog runs"], convert_to="torch")
        return {"mean_norm": float(torch.linalg.norm(embeddings, dim=1).mean())}
