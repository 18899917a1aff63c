"""The ingest loop against an in-memory target: overlap, skipping, splitting, retries, failures, streaming."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from integrations._ingest import IngestDocument, iter_inputs
from integrations._pipeline import run_ingest
from integrations._retry import RetryPolicy
from sbert_plugins.errors import ConfigError, IntegrationError
from tests.integrations.corpus import make_docs

FAST = RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.002)


class MemorySink:
    """Stores records in a dict; can fail on chosen write calls."""

    collection = "memory"

    def __init__(self, max_batch_size: int = 1000) -> None:
        self.max_batch_size = max_batch_size
        self.records: dict[str, tuple[str, str]] = {}  # point id -> (text, hash)
        self.write_sizes: list[int] = []
        self.failures: dict[int, BaseException] = {}  # write call number (from 1) -> error to raise
        self.calls = 0
        self.before_write: Any = None

    def existing_hashes(self, point_ids: Sequence[str]) -> dict[str, str | None]:
        return {i: self.records[i][1] for i in point_ids if i in self.records}

    def prepare(self, docs: Sequence[IngestDocument], vectors: np.ndarray) -> Any:
        return [(d.point_id, d.text, d.content_hash) for d in docs]

    def write(self, prepared: Any) -> None:
        self.calls += 1
        if self.before_write is not None:
            self.before_write(self.calls)
        error = self.failures.pop(self.calls, None)
        if error is not None:
            raise error
        self.write_sizes.append(len(prepared))
        for point_id, text, digest in prepared:
            self.records[point_id] = (text, digest)


class CountingEncoder:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        return np.ones((len(texts), 4), dtype=np.float32)


def ingest(sink: MemorySink, docs: Any, encode: Any = None, **options: Any) -> Any:
    options.setdefault("policy", FAST)
    return run_ingest(iter_inputs(docs), sink, encode or CountingEncoder(), show_progress=False, **options)


def test_writes_everything_and_reports_it() -> None:
    sink = MemorySink()
    summary = ingest(sink, make_docs(50), batch_size=16)
    assert (summary.written, summary.skipped, summary.rejected, summary.overwritten) == (50, 0, (), 0)
    assert len(sink.records) == 50
    assert summary.seconds > 0 and summary.docs_per_second > 0


def test_unchanged_documents_are_skipped_without_encoding_changed_ones_overwritten() -> None:
    sink = MemorySink()
    ingest(sink, make_docs(30), batch_size=8)
    docs = make_docs(30)
    docs[3]["text"] = "a changed text"
    docs[7]["metadata"] = {"n": 7, "parity": "changed"}
    encoder = CountingEncoder()
    summary = ingest(sink, docs, encoder, batch_size=8)
    assert (summary.written, summary.overwritten, summary.skipped) == (2, 2, 28)
    assert encoder.texts == [docs[3]["text"], docs[7]["text"]]
    assert len(sink.records) == 30


def test_encoding_of_the_next_batch_overlaps_the_upload_of_this_one() -> None:
    # The first write waits until the encoder has been called for the second batch: without
    # pipelining this would never happen and the wait times out.
    sink = MemorySink()
    encoder = CountingEncoder()
    second_encode = threading.Event()
    overlapped = []

    def encode(texts: list[str]) -> np.ndarray:
        result = encoder(texts)
        if encoder.calls == 2:
            second_encode.set()
        return result

    def before_write(call: int) -> None:
        if call == 1:
            overlapped.append(second_encode.wait(timeout=30))

    sink.before_write = before_write
    summary = ingest(sink, make_docs(40), encode, batch_size=10)
    assert overlapped == [True]
    assert summary.written == 40


def test_upload_batches_respect_the_target_maximum() -> None:
    sink = MemorySink(max_batch_size=7)
    ingest(sink, make_docs(40), batch_size=16)
    assert max(sink.write_sizes) <= 7 and sum(sink.write_sizes) == 40


def test_transient_write_errors_are_retried() -> None:
    sink = MemorySink()
    sink.failures = {1: ConnectionRefusedError(111, "refused"), 2: TimeoutError("slow")}
    summary = ingest(sink, make_docs(20), batch_size=10)
    assert summary.written == 20 and len(sink.records) == 20


def test_persistent_failure_says_how_many_documents_were_written() -> None:
    sink = MemorySink()
    refused = ConnectionRefusedError(111, "Connection refused")
    sink.failures = {3: refused, 4: refused, 5: refused}  # the third batch fails 3 times
    with pytest.raises(
        IntegrationError, match=r"stopped: writing 10 documents failed 3 times.*20 documents were written"
    ):
        ingest(sink, make_docs(50), batch_size=10)
    assert len(sink.records) == 20


def test_non_transient_write_error_stops_at_once_with_counts() -> None:
    sink = MemorySink()
    sink.failures = {2: ValueError("bad vector")}
    with pytest.raises(
        IntegrationError, match=r"ValueError: bad vector \(not a transient error\).*10 documents were written"
    ):
        ingest(sink, make_docs(50), batch_size=10)
    assert sink.calls == 2


def test_input_is_streamed_not_materialised() -> None:
    # An endless generator with a target that fails: the loop stops after a few batches.
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield {"id": i, "text": f"text {i}"}
            i += 1

    sink = MemorySink()
    sink.failures = {1: ValueError("stop")}
    with pytest.raises(IntegrationError):
        ingest(sink, endless(), batch_size=10)
    assert len(pulled) < 100  # at most the batches in flight plus the queue


def test_rejected_and_duplicate_documents_are_reported_and_the_rest_written() -> None:
    docs = [*make_docs(5), {"id": "doc-2", "text": "same id again"}, {"text": ""}, "free text", "free text"]
    sink = MemorySink()
    summary = ingest(sink, docs, batch_size=3)
    assert summary.written == 6
    reasons = {(r.doc_id, r.where): r.reason for r in summary.rejected}
    assert "duplicate" in reasons[("doc-2", "index 5")] and "same id" in reasons[("doc-2", "index 5")]
    assert reasons[(None, "index 6")] == "text is empty"
    assert "same text" in reasons[(None, "index 8")]
    assert summary.processed == len(docs)


def test_encoder_errors_propagate_after_the_uploader_finishes() -> None:
    sink = MemorySink()
    calls = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("model failed")
        return np.zeros((len(texts), 2), dtype=np.float32)

    with pytest.raises(RuntimeError, match="model failed"):
        ingest(sink, make_docs(30), encode, batch_size=10)
    assert len(sink.records) == 10  # the first batch was already encoded: it is written, not lost


def test_bad_encoder_output_and_bad_batch_size_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="expected a 2-D array with 5 rows"):
        ingest(MemorySink(), make_docs(5), lambda texts: np.zeros(3), batch_size=10)
    with pytest.raises(ConfigError, match="batch_size"):
        ingest(MemorySink(), make_docs(5), batch_size=0)
