"""``sbert-plugins distill-static``: a StaticEmbedding model distilled from a transformer folder (model2vec)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from sbert_plugins.errors import ConfigError, MissingDependencyError
from sbert_plugins.modules import StaticEmbedding

TEXTS = ["a man plays the guitar", "the cat sits on the chair", "hello world"]


def test_distilled_folder_loads_here_and_in_the_reference(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("model2vec.distill")
    output = tmp_path / "static"
    code = main(["distill-static", "--model", str(tiny_model_dir), "--output", str(output), "--pca-dims", "8"])
    assert code == 0, capsys.readouterr().err
    assert "StaticEmbedding model" in capsys.readouterr().out
    ours = SentenceEncoder(output, device="cpu")
    assert isinstance(ours[0], StaticEmbedding) and ours.embedding_dim == 8
    embeddings = ours.encode(TEXTS)
    assert np.all(np.isfinite(embeddings)) and not np.allclose(embeddings[0], embeddings[1])
    reference = SentenceTransformer(str(output), device="cpu")
    np.testing.assert_allclose(embeddings, reference.encode(TEXTS), atol=1e-5)
    assert not (tmp_path / "static.partial").exists()

    # A second run never writes into a folder that holds files.
    assert main(["distill-static", "--model", str(tiny_model_dir), "--output", str(output)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


def test_bad_settings_and_missing_model2vec(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations.static_distill import distill_static

    pytest.importorskip("model2vec.distill")
    with pytest.raises(ConfigError, match="exceeds the model's dimension 32"):
        distill_static(tiny_model_dir, pca_dims=64)
    with pytest.raises(ConfigError, match="sif_coefficient"):
        distill_static(tiny_model_dir, sif_coefficient=2.0)
    monkeypatch.setitem(sys.modules, "model2vec.distill", None)
    with pytest.raises(MissingDependencyError, match=r"sbert-plugins\[static\]"):
        distill_static(tiny_model_dir)
