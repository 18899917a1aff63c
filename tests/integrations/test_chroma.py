"""ChromaIngestor: embedded (PersistentClient) and against a real Chroma server, including a server restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chromadb")

from integrations._ingest import point_id
from integrations._retry import RetryPolicy
from integrations.chroma import ChromaIngestor, distance_to_score, to_where
from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError, IntegrationError
from tests.integrations.conftest import ChromaServer
from tests.integrations.corpus import make_docs, make_text


def test_embedded_ingest_writes_the_langchain_layout(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    with ChromaIngestor(tiny_encoder, "docs", path=tmp_path / "c", batch_size=16) as ingestor:
        summary = ingestor.ingest(make_docs(30), show_progress=False)
        assert (summary.written, summary.skipped, summary.rejected) == (30, 0, ())
        store = ingestor.client.get_collection("docs")
        record = store.get(ids=[point_id("doc-3", "")], include=["documents", "metadatas", "embeddings"])
        assert record["documents"] == [make_text(3)]
        metadata = record["metadatas"][0]
        assert metadata["n"] == 3 and metadata["parity"] == "odd" and metadata["_doc_id"] == "doc-3"
        assert len(metadata["_content_hash"]) == 32
        assert len(record["embeddings"][0]) == tiny_encoder.embedding_dim
        assert store.configuration["hnsw"]["space"] == "cosine"
        assert store.metadata["sbert_plugins_dimension"] == tiny_encoder.embedding_dim


def test_embedded_reingest_skips_and_overwrites(
    tiny_encoder: SentenceEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c"
    with ChromaIngestor(tiny_encoder, "docs", path=path) as ingestor:
        ingestor.ingest(make_docs(20), show_progress=False)
    calls: list[int] = []
    original = tiny_encoder.encode_documents
    monkeypatch.setattr(
        tiny_encoder, "encode_documents", lambda texts, **kw: calls.append(len(texts)) or original(texts, **kw)
    )
    docs = make_docs(20)
    docs[2]["metadata"] = {"n": 2, "parity": "changed"}
    with ChromaIngestor(tiny_encoder, "docs", path=path) as ingestor:
        summary = ingestor.ingest(docs, show_progress=False)
        assert (summary.written, summary.overwritten, summary.skipped, calls) == (1, 1, 19, [1])
        assert ingestor.count() == 20
        assert ingestor.search(make_text(2), k=1, filter={"parity": "changed"})[0].id == "doc-2"


def test_metadata_chroma_cannot_store_is_rejected_with_the_id(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    docs = [
        *make_docs(3),
        {"id": "nested", "text": "x", "metadata": {"author": {"name": "a"}}},
        {"id": "none", "text": "y", "metadata": {"author": None}},
        {"id": "list", "text": "tags are fine", "metadata": {"tags": ["a", "b"]}},
    ]
    with ChromaIngestor(tiny_encoder, "docs", path=tmp_path / "c") as ingestor:
        summary = ingestor.ingest(docs, show_progress=False)
        assert summary.written == 4
        reasons = {r.doc_id: r.reason for r in summary.rejected}
        assert set(reasons) == {"nested", "none"} and "'author'" in reasons["nested"]
        assert ingestor.search("tags are fine", k=1)[0].metadata == {"tags": ["a", "b"]}


def test_dimension_and_space_mismatch_are_errors_and_nothing_is_written(
    tiny_encoder: SentenceEncoder, tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "c"
    with ChromaIngestor(tiny_encoder, "docs", path=path) as ingestor:
        ingestor.ingest(make_docs(4), show_progress=False)
    smaller = SentenceEncoder(tiny_model_dir, device="cpu", truncate_dim=8)
    with ChromaIngestor(smaller, "docs", path=path) as ingestor:
        with pytest.raises(IntegrationError, match=r"32-dimensional.*8-dimensional.*recreate=True"):
            ingestor.ingest(make_docs(5, start=50), show_progress=False)
        assert ingestor.count() == 4
    dot = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="dot")
    with ChromaIngestor(dot, "docs", path=path) as ingestor:
        with pytest.raises(IntegrationError, match=r"'cosine' space.*'ip' space"):
            ingestor.ingest(make_docs(5, start=50), show_progress=False)
        assert ingestor.count() == 4
    with ChromaIngestor(smaller, "docs", path=path, recreate=True) as ingestor:
        assert ingestor.ingest(make_docs(5), show_progress=False).written == 5
        assert ingestor.count() == 5


def test_upload_batches_respect_the_max_batch_size(
    tiny_encoder: SentenceEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.api.models.Collection import Collection

    sizes: list[int] = []
    original = Collection.upsert
    monkeypatch.setattr(Collection, "upsert", lambda self, **kw: sizes.append(len(kw["ids"])) or original(self, **kw))
    with ChromaIngestor(tiny_encoder, "docs", path=tmp_path / "c", batch_size=64) as ingestor:
        monkeypatch.setattr(ingestor.client, "get_max_batch_size", lambda: 7)
        ingestor.ingest(make_docs(40), show_progress=False)
        assert max(sizes) == 7 and sum(sizes) == 40
        assert ingestor.count() == 40


def test_search_scores_filters_and_errors(tiny_encoder: SentenceEncoder, tiny_model_dir: Path, tmp_path: Path) -> None:
    with ChromaIngestor(tiny_encoder, "docs", path=tmp_path / "c") as ingestor:
        with pytest.raises(IntegrationError, match="does not exist"):
            ingestor.search("x")
        ingestor.ingest(make_docs(30), show_progress=False)
        hits = ingestor.search(make_text(6), k=4)
        assert hits[0].id == "doc-6" and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert "_content_hash" not in hits[0].metadata and "_doc_id" not in hits[0].metadata
        assert all(h.metadata["parity"] == "odd" for h in ingestor.search(make_text(6), k=4, filter={"parity": "odd"}))
        both = ingestor.search(make_text(6), k=30, filter={"parity": "even", "n": [2, 4, 5]})
        assert sorted(h.id for h in both) == ["doc-2", "doc-4"]
    manhattan = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="manhattan")
    with (
        ChromaIngestor(manhattan, "other", path=tmp_path / "c") as ingestor,
        pytest.raises(ConfigError, match="no Chroma"),
    ):
        ingestor.ingest(make_docs(2), show_progress=False)


def test_pure_helpers() -> None:
    assert to_where({"a": 1}) == {"a": 1}
    assert to_where({"a": 1, "b": ["x", "y"]}) == {"$and": [{"a": 1}, {"b": {"$in": ["x", "y"]}}]}
    assert to_where({"$or": [{"a": 1}, {"a": 2}]}) == {"$or": [{"a": 1}, {"a": 2}]}
    assert to_where(None) is None
    assert distance_to_score(0.25, "cosine") == pytest.approx(0.75)
    assert distance_to_score(4.0, "l2") == pytest.approx(-2.0)
    with pytest.raises(ConfigError):
        to_where("a=1")


@pytest.mark.server
def test_server_ingest_and_search(tiny_encoder: SentenceEncoder, chroma_url: str) -> None:
    with ChromaIngestor(tiny_encoder, "server-docs", url=chroma_url, recreate=True) as ingestor:
        summary = ingestor.ingest(make_docs(25), show_progress=False)
        assert summary.written == 25 and ingestor.count() == 25
        assert ingestor.ingest(make_docs(25), show_progress=False).skipped == 25
        assert ingestor.search(make_text(9), k=1)[0].id == "doc-9"


@pytest.mark.server
def test_server_stopped_mid_ingest_is_retried_and_every_document_stored_once(
    tiny_encoder: SentenceEncoder, chroma_server: ChromaServer, caplog: pytest.LogCaptureFixture
) -> None:
    n, stop_at = 200, 80
    restarted = threading.Event()

    def restart_later() -> None:
        time.sleep(1.0)
        chroma_server.start()
        restarted.set()

    def corpus() -> Iterator[dict[str, Any]]:
        for i, doc in enumerate(make_docs(n)):
            if i == stop_at:  # mid-ingest: earlier batches are written or in flight
                chroma_server.stop()
                threading.Thread(target=restart_later, daemon=True).start()
            yield doc

    policy = RetryPolicy(attempts=15, initial_delay=0.2, max_delay=2.0)
    caplog.set_level(logging.WARNING, logger="integrations._retry")
    with ChromaIngestor(tiny_encoder, "fault", url=chroma_server.url, batch_size=20, retry=policy) as ingestor:
        summary = ingestor.ingest(corpus(), show_progress=False)
        assert restarted.is_set()
        assert any("transient" in r.getMessage() for r in caplog.records), "the ingest never met the stopped server"
        assert summary.written + summary.skipped == n and not summary.rejected
        assert ingestor.count() == n
        stored = ingestor.client.get_collection("fault").get(include=["metadatas"])
        assert sorted(m["_doc_id"] for m in stored["metadatas"]) == sorted(f"doc-{i}" for i in range(n))


def test_a_server_that_is_not_running_is_retried_then_named(tiny_encoder: SentenceEncoder) -> None:
    import socket

    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(IntegrationError, match=rf"connecting to http://127\.0\.0\.1:{port}.*failed 2 times"):
        ChromaIngestor(
            tiny_encoder, "docs", url=f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=2, initial_delay=0)
        )
