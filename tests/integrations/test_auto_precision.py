"""``precision="auto"`` through the adapters: ``sbert-plugins ingest --precision auto``, the server's settings
and ``SBERTEmbeddings(precision="auto")`` all load the encoder in the mode the machine's flags pick."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sbert_plugins import precision_choice as choice_module
from sbert_plugins.cli import main
from sbert_plugins.precision_choice import CpuInfo
from tests.integrations.corpus import make_docs

AMX = frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"})


@pytest.fixture()
def amx_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every later ``read_cpu_info()`` reports a CPU with AMX."""
    monkeypatch.setattr(choice_module, "read_cpu_info", lambda: CpuInfo("fake Xeon", AMX))


def test_ingest_accepts_auto(
    amx_cpu: None, tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("qdrant_client")
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": d["id"], "text": d["text"]} for d in make_docs(4)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "auto"]
    with caplog.at_level(logging.INFO, logger="sbert_plugins.encoder"):
        code = main([*argv, "--qdrant", str(tmp_path / "store"), "--collection", "docs", "--quiet"])
    assert code == 0
    assert "precision='auto' chose 'bf16'" in caplog.text


def test_langchain_embeddings_accept_auto(amx_cpu: None, tiny_model_dir: Path) -> None:
    pytest.importorskip("langchain_core")
    from integrations.langchain import SBERTEmbeddings

    embeddings = SBERTEmbeddings(model_name=tiny_model_dir, device="cpu", precision="auto")
    assert len(embeddings.embed_query("a harp")) == embeddings.embedding_dim
    encoder = embeddings.encoder
    assert encoder.precision == "bf16" and "amx_bf16" in encoder.precision_reason


def test_server_loads_auto_and_names_the_precision(amx_cpu: None, tiny_model_dir: Path) -> None:
    pytest.importorskip("fastapi")
    import httpx

    from integrations.serve import ServeSettings, load_app, serve_in_thread

    settings = ServeSettings(model=tiny_model_dir, model_id="tiny", device="cpu", precision="auto")
    with serve_in_thread(load_app(settings)) as url:
        models = httpx.get(url + "/v1/models").json()["data"]
        vectors = httpx.post(url + "/v1/embeddings", json={"model": "tiny", "input": ["a harp"]}).json()["data"]
    assert models[0]["precision"] == "bf16"
    assert len(vectors) == 1
