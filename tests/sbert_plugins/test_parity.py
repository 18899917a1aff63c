"""Parity with the reference implementation on the real all-MiniLM-L6-v2 and STSb dev (slow)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer

from sbert_plugins import SentenceEncoder

pytestmark = pytest.mark.slow


def read_stsb(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) / 5 for r in rows])


def test_stsb_dev_embeddings_and_spearman_match_the_reference(minilm_dir: Path, data_dir: Path) -> None:
    first, second, gold = read_stsb(data_dir / "stsb" / "stsb-en-dev.csv")
    ours = SentenceEncoder(minilm_dir, device="cpu")
    ref = SentenceTransformer(str(minilm_dir), device="cpu")
    texts = first + second
    ours_emb = ours.encode(texts, batch_size=64)
    ref_emb = ref.encode(texts, batch_size=64)
    assert np.abs(ours_emb - ref_emb).max() < 1e-5

    def spearman(emb: np.ndarray) -> float:
        a, b = emb[: len(first)], emb[len(first) :]
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        return float(spearmanr(cosine, gold).statistic)

    assert round(spearman(ours_emb), 3) == round(spearman(ref_emb), 3)
    assert spearman(ours_emb) > 0.8
