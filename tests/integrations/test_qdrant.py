"""QdrantIngestor in embedded mode: layout, idempotency, resume after kill -9, mismatches, search, hybrid BM25."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qdrant_client")

from integrations._ingest import point_id
from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from sbert_plugins.bm25 import BM25Config, BM25Encoder
from sbert_plugins.errors import ConfigError, IntegrationError
from tests.integrations.corpus import make_docs, make_text

REPO = Path(__file__).resolve().parents[2]


def count_encoded(monkeypatch: pytest.MonkeyPatch, encoder: SentenceEncoder) -> list[int]:
    """Record how many texts each ``encode_documents`` call gets."""
    calls: list[int] = []
    original = encoder.encode_documents

    def spy(texts: Any, **kwargs: Any) -> Any:
        calls.append(len(texts))
        return original(texts, **kwargs)

    monkeypatch.setattr(encoder, "encode_documents", spy)
    return calls


def test_ingest_writes_the_langchain_layout(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    with QdrantIngestor(tiny_encoder, "docs", path=tmp_path / "q", batch_size=16) as ingestor:
        summary = ingestor.ingest(make_docs(40), show_progress=False)
        assert (summary.written, summary.skipped, summary.rejected) == (40, 0, ())
        assert ingestor.count() == 40
        point = ingestor.client.retrieve("docs", [point_id("doc-3", "")], with_payload=True, with_vectors=True)[0]
        assert point.payload["page_content"] == make_text(3)
        assert point.payload["metadata"] == {"n": 3, "parity": "odd"}
        assert point.payload["_doc_id"] == "doc-3" and len(point.payload["_content_hash"]) == 32
        assert len(point.vector) == tiny_encoder.embedding_dim  # the default (unnamed) vector
        params = ingestor.client.get_collection("docs").config.params
        assert params.vectors.size == tiny_encoder.embedding_dim and params.vectors.distance.value == "Cosine"


def test_collection_is_created_from_model_facts_without_encoding(
    tiny_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_encoded(monkeypatch, tiny_encoder)
    ingestor = QdrantIngestor(tiny_encoder, "empty", path=":memory:")
    summary = ingestor.ingest([], show_progress=False)
    assert summary.written == 0 and calls == []
    assert ingestor.client.get_collection("empty").config.params.vectors.size == tiny_encoder.embedding_dim


def test_reingest_skips_unchanged_without_encoding_and_overwrites_changed(
    tiny_encoder: SentenceEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q"
    with QdrantIngestor(tiny_encoder, "docs", path=path, batch_size=16) as ingestor:
        ingestor.ingest(make_docs(30), show_progress=False)
    calls = count_encoded(monkeypatch, tiny_encoder)
    docs = make_docs(30)
    docs[5]["text"] = "the dog sings a new song"
    with QdrantIngestor(tiny_encoder, "docs", path=path, batch_size=16) as ingestor:  # reopened from disk
        summary = ingestor.ingest(docs, show_progress=False)
        assert (summary.written, summary.overwritten, summary.skipped) == (1, 1, 29)
        assert calls == [1]
        assert ingestor.count() == 30
        hit = ingestor.search("the dog sings a new song", k=1)[0]
        assert (hit.id, hit.text) == ("doc-5", "the dog sings a new song")


def test_documents_without_id_are_keyed_by_text(tiny_encoder: SentenceEncoder) -> None:
    ingestor = QdrantIngestor(tiny_encoder, "texts", path=":memory:")
    texts = [make_text(i) for i in range(10)]
    ingestor.ingest(texts, show_progress=False)
    summary = ingestor.ingest(texts, show_progress=False)
    assert (summary.written, summary.skipped, ingestor.count()) == (0, 10, 10)


def test_changed_vector_settings_re_encode_instead_of_skipping(tiny_encoder: SentenceEncoder) -> None:
    ingestor = QdrantIngestor(tiny_encoder, "h", path=":memory:", hybrid=True)
    ingestor.ingest(make_docs(6), show_progress=False)
    before = ingestor.search("the man plays guitar", k=3, mode="sparse")
    other = QdrantIngestor(tiny_encoder, "h", client=ingestor.client, hybrid=True, bm25=BM25Config(k1=0.3, b=0.0))
    summary = other.ingest(make_docs(6), show_progress=False)
    assert (summary.written, summary.overwritten, summary.skipped) == (6, 6, 0)
    after = other.search("the man plays guitar", k=3, mode="sparse")
    assert [h.score for h in after] != pytest.approx([h.score for h in before])


def test_truncated_documents_are_counted_not_warned_per_batch(
    tiny_encoder: SentenceEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    long_text = " ".join(["the man plays guitar in the park"] * 20)  # well over the tiny model's 64 tokens
    ingestor = QdrantIngestor(tiny_encoder, "t", path=":memory:", batch_size=2)
    with caplog.at_level(logging.WARNING):
        summary = ingestor.ingest([long_text, *(make_text(i) for i in range(4))], show_progress=False)
    assert summary.truncated == 1 and "1 written documents were longer" in str(summary)
    assert not [r for r in caplog.records if "max_seq_length" in r.getMessage()]
    assert tiny_encoder.encode([long_text]).shape == (1, 32)
    assert any("max_seq_length" in r.getMessage() for r in caplog.records)  # outside an ingest it still warns


def test_kill_9_then_rerun_leaves_exactly_one_point_per_document(tiny_model_dir: Path, tmp_path: Path) -> None:
    n, path = 600, tmp_path / "q"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integrations.kill_child", str(tiny_model_dir), str(path), str(n)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() in ("read 200", "done"):
                break
        assert line.strip() == "read 200", "the child finished or died before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    with QdrantIngestor(SentenceEncoder(tiny_model_dir, device="cpu"), "resume", path=path, batch_size=20) as ingestor:
        # At most the batches in flight (being encoded, queued, uploading) were lost: the rest is skipped.
        already = ingestor.count()
        summary = ingestor.ingest(make_docs(n), show_progress=False)
        assert already >= 100 and summary.skipped == already
        assert summary.written + summary.skipped == n
        assert ingestor.count() == n
        stored, _ = ingestor.client.scroll("resume", limit=2 * n, with_payload=["_doc_id"])
        assert sorted(p.payload["_doc_id"] for p in stored) == sorted(f"doc-{i}" for i in range(n))


def test_dimension_or_distance_mismatch_is_an_error_and_nothing_is_written(
    tiny_encoder: SentenceEncoder, tiny_model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "q"
    with QdrantIngestor(tiny_encoder, "docs", path=path) as ingestor:
        ingestor.ingest(make_docs(5), show_progress=False)
    smaller = SentenceEncoder(tiny_model_dir, device="cpu", truncate_dim=16)
    with QdrantIngestor(smaller, "docs", path=path) as ingestor:
        with pytest.raises(IntegrationError, match=r"holds 32-dimensional.*16-dimensional.*recreate=True"):
            ingestor.ingest(make_docs(10, start=100), show_progress=False)
        assert ingestor.count() == 5
        with pytest.raises(IntegrationError, match="32-dimensional"):
            ingestor.search("a dog", k=3)
    dot = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="dot")
    with QdrantIngestor(dot, "docs", path=path) as ingestor:
        with pytest.raises(IntegrationError, match=r"Cosine distance.*compared by Dot.*another collection name"):
            ingestor.ingest(make_docs(10, start=100), show_progress=False)
        assert ingestor.count() == 5
    with QdrantIngestor(smaller, "docs", path=path, recreate=True) as ingestor:
        assert ingestor.ingest(make_docs(7), show_progress=False).written == 7
        assert ingestor.count() == 7
        assert ingestor.ingest(make_docs(7), show_progress=False).skipped == 7  # recreate happens once


def test_hybrid_setting_must_match_the_collection(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    with QdrantIngestor(tiny_encoder, "docs", path=tmp_path / "q") as ingestor:
        ingestor.ingest(make_docs(3), show_progress=False)
    with QdrantIngestor(tiny_encoder, "docs", path=tmp_path / "q", hybrid=True) as ingestor:
        with pytest.raises(IntegrationError, match=r"created without BM25.*hybrid=True"):
            ingestor.ingest(make_docs(3), show_progress=False)
        with pytest.raises(ConfigError, match="needs BM25 vectors"):
            ingestor.search("dog", mode="hybrid")


def test_bad_documents_are_reported_and_the_rest_ingested(tiny_encoder: SentenceEncoder) -> None:
    docs = [
        *make_docs(4),
        {"id": "empty", "text": ""},
        {"id": "number", "text": 42},
        {"id": "nan", "text": "x", "metadata": {"score": math.inf}},
        {"id": "nested", "text": "nested metadata is fine in qdrant", "metadata": {"a": {"b": [1, 2]}}},
    ]
    ingestor = QdrantIngestor(tiny_encoder, "docs", path=":memory:")
    summary = ingestor.ingest(docs, show_progress=False)
    assert summary.written == 5
    assert {r.doc_id for r in summary.rejected} == {"empty", "number", "nan"}
    hit = ingestor.search("nested metadata is fine in qdrant", k=1)[0]
    assert hit.metadata == {"a": {"b": [1, 2]}}


def test_inputs_jsonl_file_and_langchain_documents(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    from langchain_core.documents import Document

    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"_id": f"c{i}", "title": "Title", "text": make_text(i), "metadata": {}, "year": 2000 + i} for i in range(5)
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    ingestor = QdrantIngestor(tiny_encoder, "docs", path=":memory:")
    summary = ingestor.ingest(corpus, show_progress=False)
    assert summary.written == 5 and [r.where for r in summary.rejected] == [f"{corpus}:6"]
    hit = ingestor.search(f"Title {make_text(2)}", k=1)[0]
    assert hit.id == "c2" and hit.text == f"Title {make_text(2)}" and hit.metadata == {"year": 2002, "title": "Title"}
    summary = ingestor.ingest(
        [Document(page_content="a langchain page", metadata={"s": 1}, id="lc")], show_progress=False
    )
    assert summary.written == 1
    assert ingestor.search("a langchain page", k=1)[0].id == "lc"


def test_search_scores_filters_and_errors(tiny_encoder: SentenceEncoder) -> None:
    ingestor = QdrantIngestor(tiny_encoder, "docs", path=":memory:")
    with pytest.raises(IntegrationError, match="does not exist"):
        ingestor.search("x")
    ingestor.ingest(make_docs(30), show_progress=False)
    hits = ingestor.search(make_text(4), k=5)
    assert hits[0].id == "doc-4" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    odd = ingestor.search(make_text(4), k=5, filter={"parity": "odd"})
    assert odd and all(h.metadata["parity"] == "odd" for h in odd)
    some = ingestor.search(make_text(4), k=10, filter={"n": [1, 2, 3]})
    assert sorted(h.id for h in some) == ["doc-1", "doc-2", "doc-3"]
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        ingestor.search("x", k=0)
    with pytest.raises(ConfigError, match="query must be a non-empty string"):
        ingestor.search("  ")


def test_euclidean_model_scores_are_negated_distances(tiny_model_dir: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="euclidean")
    ingestor = QdrantIngestor(model, "docs", path=":memory:")
    ingestor.ingest(make_docs(10), show_progress=False)
    hits = ingestor.search(make_text(2), k=3)
    assert hits[0].id == "doc-2" and hits[0].score == pytest.approx(0.0, abs=1e-3)
    assert all(h.score <= 1e-6 for h in hits) and hits[1].score < hits[0].score


def test_hybrid_sparse_scores_are_bm25_with_collection_idf(tiny_encoder: SentenceEncoder) -> None:
    texts = ["red apple red", "green apple", "blue car", "red car fast car", "slow green bike"]
    ingestor = QdrantIngestor(tiny_encoder, "hybrid", path=":memory:", hybrid=True)
    ingestor.ingest([{"id": str(i), "text": t} for i, t in enumerate(texts)], show_progress=False)
    bm25 = BM25Encoder()
    docs = [dict(zip(v.indices, v.values, strict=True)) for v in bm25.encode_documents(texts)]
    query = bm25.encode_query("red car")
    expected = {}
    for i, weights in enumerate(docs):
        score = 0.0
        for term in query.indices:
            df = sum(term in d for d in docs)
            score += math.log(1 + (len(docs) - df + 0.5) / (df + 0.5)) * weights.get(term, 0.0)
        if score > 0:
            expected[str(i)] = score
    hits = ingestor.search("red car", k=5, mode="sparse")
    assert {h.id: h.score for h in hits} == pytest.approx(expected, rel=1e-4)
    assert hits[0].id == "3"
    fused = ingestor.search("red car", k=5)  # hybrid by default on a hybrid collection
    assert len(fused) == 5 and fused[0].score >= fused[-1].score
    assert {h.id for h in ingestor.search("red car", k=5, mode="dense")} == {str(i) for i in range(5)}


def test_constructor_validation(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        QdrantIngestor(tiny_encoder, "c", path=tmp_path, url="http://localhost:6333")
    with pytest.raises(ConfigError, match="exactly one of"):
        QdrantIngestor(tiny_encoder, "c")
    with pytest.raises(ConfigError, match="api_key is for a server"):
        QdrantIngestor(tiny_encoder, "c", path=tmp_path, api_key="secret")
    with pytest.raises(ConfigError, match="batch_size"):
        QdrantIngestor(tiny_encoder, "c", path=":memory:", batch_size=0)
    with pytest.raises(ConfigError, match="collection"):
        QdrantIngestor(tiny_encoder, "", path=":memory:")
