"""Fixtures for the Haystack component tests: tiny models with prompts, a tiny re-ranker, Documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network in tests

pytest.importorskip("haystack")

from haystack import Document

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from tests.integrations.corpus import make_text

PROMPTS = {"query": "query: ", "document": "passage: "}


@pytest.fixture(scope="session")
def prompted_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved with "query" / "document" prompts."""
    folder = tmp_path_factory.mktemp("prompted") / "model"
    SentenceEncoder(tiny_model_dir, device="cpu", prompts=PROMPTS).save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_reranker_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cross-encoder folder: the tiny model with a seeded one-label head."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("reranker") / "model"
    CrossEncoder(tiny_model_dir, device="cpu").save(folder)
    return folder


def make_documents(n: int) -> list[Document]:
    """``n`` Documents over the tiny vocabulary, with ``title`` and ``n`` metadata."""
    return [Document(id=f"doc-{i}", content=make_text(i), meta={"title": f"title {i % 3}", "n": i}) for i in range(n)]
