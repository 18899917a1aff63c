"""Fixtures for the evaluator tests: small deterministic data sets from the tiny model's vocabulary."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sbert_plugins import SentenceEncoder
from tests.sparse_models import splade_dir as splade_dir  # the tiny SPLADE model fixture
from tests.sparse_models import tiny_mlm_dir as tiny_mlm_dir

_VOCABULARY = (
    "man woman child dog cat horse bird plays guitar piano eats bread apple runs walks street park car "
    "bike sits chair table red blue green big small happy sad young old two three people boy girl water "
    "swims ball kicks sings song cooks kitchen reads book writes letter phone music dances sleeps"
)
WORDS = _VOCABULARY.split()


def make_sentences(n: int, *, seed: int, min_words: int = 3, max_words: int = 9) -> list[str]:
    """``n`` random sentences (word lists) over the tiny vocabulary, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(min_words, max_words))) for _ in range(n)]


@pytest.fixture(scope="session")
def prompt_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved with ``query`` and ``document`` prompts (so prompt handling is compared too)."""
    folder = tmp_path_factory.mktemp("tiny-prompts") / "model"
    SentenceEncoder(tiny_model_dir, device="cpu", prompts={"query": "query: ", "document": "passage: "}).save(folder)
    return folder


@pytest.fixture(scope="session")
def teacher_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model (other random weights) to act as a distillation teacher."""
    from tests.conftest import build_tiny_modules

    root = tmp_path_factory.mktemp("tiny-teacher")
    SentenceEncoder(modules=build_tiny_modules(root / "build", seed=1), device="cpu").save(root / "model")
    return root / "model"


@pytest.fixture(scope="session")
def ir_data() -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """30 documents (two of them duplicates, so equal scores happen), 8 queries, 1-3 relevant docs each."""
    rng = random.Random(7)
    texts = make_sentences(28, seed=11, min_words=5, max_words=12)
    texts += [texts[3], texts[10]]
    corpus = {f"d{i:02d}": text for i, text in enumerate(texts)}
    queries = {f"q{i}": text for i, text in enumerate(make_sentences(10, seed=12))}
    ids = sorted(corpus)
    relevant = {f"q{i}": set(rng.sample(ids, rng.randint(1, 3))) for i in range(8)}
    relevant["q7"].add("not-in-corpus")
    relevant["unknown-query"] = {"d01"}
    return queries, corpus, relevant
