"""One writer per embedded store: a second ingestor (in this or another process) gets a clear "in use by process
N" error, through the API and the CLI (issue #19 points 3 and 6; before the fix two Chroma ingests both wrote and
a second Qdrant ingest ended in a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations._store_lock import StoreLock
from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from sbert_plugins.errors import IntegrationError
from tests.integrations.corpus import make_docs

_HOLDER = """
import sys, time
from integrations.{module} import {cls}
from sbert_plugins import SentenceEncoder
ingestor = {cls}(SentenceEncoder(sys.argv[1], device="cpu"), "docs", path=sys.argv[2])
print("ready", flush=True)
time.sleep(60)
"""


def test_the_lock_names_the_holder_and_frees_on_release(tmp_path: Path) -> None:
    first = StoreLock(tmp_path, "Chroma")
    with pytest.raises(IntegrationError, match=rf"in use by process {os.getpid()}"):
        StoreLock(tmp_path, "Chroma")
    first.release()
    StoreLock(tmp_path, "Chroma").release()


@pytest.mark.parametrize("store", ["chroma"])  # Qdrant: the CLI test below, in one process
def test_a_second_ingestor_in_another_process_is_refused(store: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client" if store == "qdrant" else "chromadb")
    cls = "QdrantIngestor" if store == "qdrant" else "ChromaIngestor"
    path = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.format(module=store, cls=cls), str(tiny_model_dir), str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        module = __import__(f"integrations.{store}", fromlist=[cls])
        with pytest.raises(IntegrationError, match=rf"{store.title()} store .* is in use by process {holder.pid}"):
            getattr(module, cls)(SentenceEncoder(tiny_model_dir, device="cpu"), "docs", path=path)
    finally:
        holder.kill()
        holder.wait()
    with getattr(module, cls)(SentenceEncoder(tiny_model_dir, device="cpu"), "docs", path=path) as ingestor:
        assert ingestor.ingest(make_docs(3), show_progress=False).written == 3  # the lock died with its process


def test_the_cli_reports_a_held_qdrant_folder(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client")
    from integrations.qdrant import QdrantIngestor

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d["id"], "text": d["text"]}) + "\n" for d in make_docs(3)))
    with QdrantIngestor(SentenceEncoder(tiny_model_dir, device="cpu"), "docs", path=tmp_path / "q"):
        argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--qdrant", str(tmp_path / "q")]
        assert main([*argv, "--collection", "docs"]) == 2
    assert f"in use by process {os.getpid()}" in capsys.readouterr().err


def test_a_collection_name_chroma_refuses_is_a_clear_error(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("chromadb")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "a", "text": "the dog eats bread"}) + "\n")
    argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--chroma", str(tmp_path / "c")]
    assert main([*argv, "--collection", "ab"]) == 2
    assert "Chroma refused the collection name 'ab'" in capsys.readouterr().err
