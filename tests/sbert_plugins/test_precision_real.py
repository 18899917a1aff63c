"""Each precision of the real all-MiniLM-L6-v2 against its fp32 embeddings on STSb dev sentences (slow)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.onnx_backend import CACHE_ENV

pytestmark = pytest.mark.slow

MIN_COSINE = {"bf16": 0.999, "fp16": 0.999, "int8": 0.99}


@pytest.fixture(scope="module")
def sentences_and_fp32(minilm_dir: Path, data_dir: Path) -> tuple[list[str], np.ndarray]:
    with (data_dir / "stsb" / "stsb-en-dev.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    sentences = list(dict.fromkeys(r[i] for r in rows[:200] for i in (0, 1)))  # a few hundred
    fp32 = SentenceEncoder(minilm_dir, device="cpu").encode(sentences, normalize=True)
    return sentences, fp32


@pytest.mark.parametrize("precision", ["bf16", "fp16", "int8"])
def test_precision_stays_close_to_fp32_per_row(
    minilm_dir: Path,
    sentences_and_fp32: tuple[list[str], np.ndarray],
    precision: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if precision == "int8":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        monkeypatch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("onnx-cache")))
    sentences, fp32 = sentences_and_fp32
    model = SentenceEncoder(minilm_dir, device="cpu", precision=precision)  # type: ignore[arg-type]
    low = model.encode(sentences, normalize=True)
    cosines = np.sum(fp32 * low, axis=1)
    assert cosines.min() >= MIN_COSINE[precision], f"row {int(cosines.argmin())}: cosine {cosines.min():.5f}"
