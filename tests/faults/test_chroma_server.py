"""The Chroma server: stopped and restarted three times during one ingest, and the ingest killed with kill -9 at
seeded moments and resumed: every document exactly once, with the vectors of an uninterrupted ingest.

Ten kills, each at a seeded moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from integrations._retry import RetryPolicy
from tests.faults.conftest import moments, run_and_kill
from tests.faults.ingest_child import open_ingestor
from tests.integrations.conftest import ChromaServer, start_chroma
from tests.integrations.corpus import make_docs

pytestmark = pytest.mark.server
N = 160
KILLS = 10


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    pytest.importorskip("chromadb")
    started = start_chroma(tmp_path / "chroma-server")
    try:
        yield started
    finally:
        started.stop()


def _stored(ingestor: Any) -> dict[str, np.ndarray]:
    got = ingestor.client.get_collection("docs").get(include=["metadatas", "embeddings"], limit=4 * N)
    found: dict[str, np.ndarray] = {}
    for metadata, vector in zip(got["metadatas"], got["embeddings"], strict=True):
        assert metadata["_doc_id"] not in found, f"{metadata['_doc_id']} stored twice"
        found[metadata["_doc_id"]] = np.asarray(vector, dtype=np.float32)
    return found


def test_three_server_restarts_during_one_ingest(
    server: ChromaServer, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from integrations.chroma import ChromaIngestor
    from sbert_plugins import SentenceEncoder

    restarts = []
    up = threading.Event()
    up.set()

    def restart() -> None:
        time.sleep(0.5)
        server.start()
        up.set()

    def corpus() -> Iterator[dict[str, Any]]:
        for i, doc in enumerate(make_docs(N)):
            if i in (40, 80, 120):  # the server goes away with batches written and in flight
                assert up.wait(timeout=120)
                up.clear()
                server.stop()
                threading.Thread(target=restart, daemon=True).start()
                restarts.append(i)
            yield doc

    policy = RetryPolicy(attempts=20, initial_delay=0.2, max_delay=2.0)
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    caplog.set_level(logging.WARNING, logger="integrations._retry")
    with ChromaIngestor(model, "docs", url=server.url, batch_size=16, retry=policy) as ingestor:
        summary = ingestor.ingest(corpus(), show_progress=False)
        assert up.wait(timeout=120) and restarts == [40, 80, 120]
        assert any("transient" in r.getMessage() for r in caplog.records), "the ingest never met the stopped server"
        assert summary.written + summary.skipped == N and not summary.rejected
        assert sorted(_stored(ingestor)) == sorted(d["id"] for d in make_docs(N))


def test_kill_9_during_a_server_ingest_then_resume(server: ChromaServer, tiny_model_dir: Path, tmp_path: Path) -> None:
    with open_ingestor("chroma", str(tiny_model_dir), str(tmp_path / "reference")) as reference:
        reference.ingest(make_docs(N), show_progress=False)
        expected = _stored(reference)
    killed = 0
    for index, delay in moments(KILLS, 10, N - 10, seed=21):
        argv = ["tests.faults.ingest_child", "chroma-server", str(tiny_model_dir), server.url, str(N)]
        killed += run_and_kill(argv, f"read {index}", delay)
        with open_ingestor("chroma-server", str(tiny_model_dir), server.url) as ingestor:
            before = ingestor.count()
            summary = ingestor.ingest(make_docs(N), show_progress=False)
            assert summary.skipped == before and summary.written + summary.skipped == N
            stored = _stored(ingestor)
        assert sorted(stored) == sorted(expected)
        for doc_id, vector in stored.items():
            np.testing.assert_allclose(vector, expected[doc_id], atol=1e-5, err_msg=doc_id)
    assert killed >= 1
