"""The vendor-free ingest loop: validate, skip what is already stored, encode batch i+1 while batch i uploads.

The main thread reads and validates documents, asks the target which of a batch are already stored
with the same content hash (those are skipped without encoding), encodes the rest and hands them to
one uploader thread through a bounded queue; the uploader splits them to the target's maximum batch
size and writes them, retrying transient errors with exponential backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from tqdm.auto import tqdm

from integrations._ingest import IngestDocument, MetadataCheck, Rejection, Summary, make_document
from integrations._retry import RetryPolicy, call_with_retry
from sbert_plugins.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from sbert_plugins.sparse.rows import SparseVector

logger = logging.getLogger(__name__)

T = TypeVar("T")
Encode = Callable[[list[str]], np.ndarray]

_ABSENT = object()

# Batches waiting for the uploader: enough to keep it busy, few enough to bound memory.
QUEUE_SIZE = 2


class Sink(Protocol):
    """What the loop needs from a target (Qdrant, Chroma): the ingestors implement it."""

    collection: str
    max_batch_size: int

    def existing_hashes(self, point_ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each of ``point_ids`` that exists (None when it has none)."""
        ...

    def prepare(
        self,
        docs: Sequence[IngestDocument],
        vectors: np.ndarray,
        sparse: Mapping[str, Sequence[SparseVector]] | None = None,
    ) -> Any:
        """Build the write request for ``docs`` (pure; runs on the uploader thread). ``sparse``: sparse vectors
        computed elsewhere (Ray's embedding actors), by vector name, one per document; the target encodes the
        other sparse vectors it stores itself, and refuses ones it does not store."""
        ...

    def write(self, prepared: Any) -> None:
        """Upsert a request built by :meth:`prepare` (idempotent: it may be retried)."""
        ...

    def stored_page(self, cursor: Any) -> tuple[list[IngestDocument], Any]:
        """One page of the stored documents (with their stored point ids and hashes) from ``cursor`` (None:
        the first page), and the cursor of the next page (None after the last)."""
        ...


@dataclass(frozen=True)
class _Job:
    docs: list[IngestDocument]
    vectors: np.ndarray
    replaces: list[bool]  # per document: does it overwrite an older version?


class _Counts:
    """Counters shared by the two threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written = 0
        self.overwritten = 0
        self.skipped = 0
        self.rejected: list[Rejection] = []

    def add_written(self, n: int, overwritten: int) -> None:
        with self.lock:
            self.written += n
            self.overwritten += overwritten


class _Uploader(threading.Thread):
    def __init__(self, sink: Sink, jobs: queue.Queue[_Job | None], policy: RetryPolicy, counts: _Counts, bar: Any):
        super().__init__(name=f"ingest-upload-{sink.collection}", daemon=True)
        self.sink, self.jobs, self.policy, self.counts, self.bar = sink, jobs, policy, counts, bar
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if self.error is not None:
                continue  # drain the queue so the producer never blocks on a dead uploader
            try:
                self._upload(job)
            except BaseException as exc:  # handed to the main thread, which raises it with the counts
                self.error = exc

    def _upload(self, job: _Job) -> None:
        size = self.sink.max_batch_size
        for start in range(0, len(job.docs), size):
            docs = job.docs[start : start + size]
            prepared = self.sink.prepare(docs, job.vectors[start : start + size])
            sink_call(partial(self.sink.write, prepared), self.policy, f"writing {len(docs)} documents")
            self.counts.add_written(len(docs), sum(job.replaces[start : start + size]))
            self.bar.update(len(docs))


def run_ingest(
    items: Iterable[tuple[Any, str]],
    sink: Sink,
    encode: Encode,
    *,
    check: MetadataCheck | None = None,
    batch_size: int = 256,
    policy: RetryPolicy | None = None,
    show_progress: bool = True,
    total: int | None = None,
    hash_salt: str = "",
) -> Summary:
    """Ingest ``(item, where)`` pairs into ``sink``; returns a :class:`Summary`.

    Args:
        items: documents with their location (see :func:`integrations._ingest.iter_inputs`).
        sink: the target.
        encode: texts -> 2-D float array, one row per text.
        check: the target's metadata rule (documents it rejects are reported, not written).
        batch_size: documents per encode step (split further to ``sink.max_batch_size`` for upload).
        policy: retries of transient errors.
        show_progress: show a tqdm bar.
        total: the number of documents, when known, for the bar.
        hash_salt: how the vectors are made (see :func:`integrations._ingest.make_document`).

    Raises:
        IntegrationError: the target failed (after retries for transient errors); the message says
            how many documents were written and that running the same ingest again resumes.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, found {batch_size!r}")
    policy = policy or RetryPolicy()
    counts = _Counts()
    started = time.perf_counter()
    jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=QUEUE_SIZE)
    with tqdm(total=total, unit="doc", desc=f"ingest {sink.collection}", disable=not show_progress) as bar:
        uploader = _Uploader(sink, jobs, policy, counts, bar)
        uploader.start()
        failure: BaseException | None = None
        try:
            _produce(
                _batches(items, check, hash_salt, batch_size, counts, bar),
                sink,
                encode,
                policy,
                counts,
                bar,
                jobs,
                uploader,
            )
        except BaseException as exc:
            failure = exc
        finally:
            _put(jobs, None, uploader)
            uploader.join()
    failure = uploader.error or failure
    if isinstance(failure, IntegrationError):
        _raise_with_counts(failure, sink.collection, counts)
    if failure is not None:
        raise failure
    return Summary(
        collection=sink.collection,
        written=counts.written,
        overwritten=counts.overwritten,
        skipped=counts.skipped,
        rejected=tuple(counts.rejected),
        seconds=time.perf_counter() - started,
    )


def _produce(
    batches: Iterator[list[IngestDocument]],
    sink: Sink,
    encode: Encode,
    policy: RetryPolicy,
    counts: _Counts,
    bar: Any,
    jobs: queue.Queue[_Job | None],
    uploader: _Uploader,
) -> None:
    def lookup(docs: list[IngestDocument] | None) -> tuple[list[IngestDocument], list[bool]]:
        if not docs:
            return [], []
        ids = [d.point_id for d in docs]
        existing = sink_call(lambda: sink.existing_hashes(ids), policy, "reading stored content hashes")
        todo = [d for d in docs if existing.get(d.point_id, _ABSENT) != d.content_hash]
        with counts.lock:
            counts.skipped += len(docs) - len(todo)
        bar.update(len(docs) - len(todo))
        return todo, [d.point_id in existing for d in todo]

    current = next(batches, None)
    todo, replaces = lookup(current)
    while current is not None and uploader.error is None:
        vectors = encode([d.text for d in todo]) if todo else None
        upcoming = next(batches, None)
        # Look the next batch up before queueing this one: the uploader is then usually idle, so a
        # target that serialises calls (embedded Qdrant) does not make encoding wait for an upload.
        next_todo, next_replaces = lookup(upcoming)
        if todo:
            _put(jobs, _Job(todo, _check_vectors(vectors, len(todo)), replaces), uploader)
        current, todo, replaces = upcoming, next_todo, next_replaces


def sink_call(fn: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """Call the target with retries; any error it raises becomes an :class:`IntegrationError` (a
    :class:`~integrations._retry.RetryError` when transient errors outlasted the retries)."""
    try:
        return call_with_retry(fn, policy, what=what)
    except IntegrationError:
        raise
    except Exception as exc:
        raise IntegrationError(f"{what} failed with {type(exc).__name__}: {exc} (not a transient error)") from exc


def _batches(
    items: Iterable[tuple[Any, str]],
    check: MetadataCheck | None,
    salt: str,
    batch_size: int,
    counts: _Counts,
    bar: Any,
) -> Iterator[list[IngestDocument]]:
    seen: set[int] = set()  # point ids as 128-bit ints: a compact exact set, even for large corpora
    batch: list[IngestDocument] = []
    for item, where in items:
        doc = item if isinstance(item, Rejection) else make_document(item, where, check, salt=salt)
        if not isinstance(doc, Rejection):
            key = uuid.UUID(doc.point_id).int
            if key in seen:
                basis = "id" if doc.doc_id is not None else "text (it has no id)"
                doc = Rejection(doc.doc_id, where, f"duplicate: an earlier document has the same {basis}")
            else:
                seen.add(key)
        if isinstance(doc, Rejection):
            logger.warning("rejected %s", doc)
            with counts.lock:
                counts.rejected.append(doc)
            bar.update(1)
            continue
        batch.append(doc)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_vectors(vectors: Any, n: int) -> np.ndarray:
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2 or vectors.shape[0] != n:
        shape = getattr(vectors, "shape", type(vectors).__name__)
        raise ConfigError(f"the encoder returned {shape} for {n} texts; expected a 2-D array with {n} rows")
    return vectors


def _put(jobs: queue.Queue[_Job | None], job: _Job | None, uploader: _Uploader) -> None:
    """Queue ``job``, waiting while the queue is full, unless the uploader has stopped."""
    while uploader.is_alive():
        try:
            jobs.put(job, timeout=0.1)
            return
        except queue.Full:
            continue


def _raise_with_counts(failure: BaseException, collection: str, counts: _Counts) -> None:
    raise IntegrationError(
        f"ingest into {collection!r} stopped: {failure}. {counts.written} documents were written before it "
        f"stopped ({counts.skipped} already present were skipped, {len(counts.rejected)} rejected). "
        "Run the same ingest again to resume: documents already stored are skipped without re-encoding."
    ) from failure
