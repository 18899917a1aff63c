"""``ingest_dataset``: validate, skip what is stored, embed and write a Ray ``Dataset`` into Qdrant or Chroma.

The stages are the single-process ingestor's, spread over Ray:

    rows ─► [embedding actors, one model each (and one learned sparse model): validate (ids, hashes,
    rejections) ─► look up stored hashes (server targets) ─► embed the new and changed rows] ─► write
    (server: writer actors; embedded store: the driver) ─► per-batch counts ─► one Summary on the driver

Ids, content hashes, payloads, metadata rules and retries are :mod:`integrations._ingest`,
:mod:`integrations._pipeline` and the ingestors' own, so a Ray ingest and a single-process ingest of
the same corpus write the same points, and either one skips what the other wrote.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from integrations._base import BaseIngestor, OpenedCollection
from integrations._ingest import IngestDocument, MetadataCheck, Rejection, Summary, make_document
from integrations._pipeline import Sink, sink_call
from integrations._retry import RetryError, RetryPolicy
from integrations.learned_sparse import LearnedSparseEncoder
from integrations.ray._embed import ActorSettings, Embedder, _check_columns, _settings, _shippable, ray_module
from integrations.ray._targets import ChromaTarget, LearnedSparseSide, QdrantTarget
from sbert_plugins.device import Precision
from sbert_plugins.errors import ConfigError, IntegrationError, SbertPluginsError
from sbert_plugins.readers import BadLine, parse_json_object
from sbert_plugins.sparse.rows import SparseVector

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

# Internal columns (underscored so they do not collide with the caller's).
POINT_ID, DOC_ID, TEXT, METADATA, HASH = "_point_id", "_doc_id", "_text", "_metadata_json", "_content_hash"
WHERE, REASON, STATE, TODO = "_where", "_reason", "_state", "_encode"
EMBEDDING, TRUNCATED = "_embedding", "_truncated"
# A sparse vector computed by the embedding actor: one column per vector name, JSON [indices, values] per row.
SPARSE_PREFIX = "_sparse:"
LINE, PATH = "_jsonl_line", "_jsonl_path"
NEW, REPLACE, SKIP, REJECT = "new", "replace", "skip", "reject"

# CPUs Ray reserves for a writer actor: none. It mostly waits on the server, and with a reservation it
# could not be placed when the embedding actors take every CPU of the cluster (the job would hang).
WRITER_CPUS = 0


def read_jsonl(paths: str | Path | Sequence[str | Path]) -> Any:
    """A BEIR-style JSONL corpus (``{_id, title, text, ...}`` per line) as a Ray ``Dataset`` of raw lines.

    The lines are parsed by :func:`ingest_dataset` with the single-process ingestor's rules (a bad line
    is rejected with its reason, the rest are ingested), not by Arrow's JSON reader, which would
    fill missing metadata keys with nulls.
    """
    ray = ray_module()
    files = [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    missing = [f for f in files if not Path(f).exists() and "://" not in f]
    if missing:
        raise ConfigError(f"no such corpus file: {missing} (expected JSONL, one {{_id, title, text}} object a line)")
    ds = ray.data.read_text(files, include_paths=True)
    return ds.rename_columns({"text": LINE, "path": PATH})


def validate_batch(batch: Any, *, text_column: str, salt: str, check: MetadataCheck | None) -> dict[str, Any]:
    """One batch (a pyarrow Table) -> the internal columns: ids, hash, text, metadata JSON, state, reason."""
    columns: dict[str, list[Any]] = {k: [] for k in (POINT_ID, DOC_ID, TEXT, METADATA, HASH, WHERE, REASON, STATE)}
    for row in batch.to_pylist():
        item, where = _item(row, text_column)
        doc = item if isinstance(item, Rejection) else make_document(item, where, check, salt=salt)
        if isinstance(doc, Rejection):
            values = [None, doc.doc_id, None, None, None, doc.where, doc.reason, REJECT]
        else:
            metadata = json.dumps(doc.metadata, ensure_ascii=False)
            values = [doc.point_id, doc.doc_id, doc.text, metadata, doc.content_hash, where, None, NEW]
        for key, value in zip(columns, values, strict=True):
            columns[key].append(value)
    out: dict[str, Any] = {k: np.array(v, dtype=object) for k, v in columns.items()}
    out[TODO] = np.array([s == NEW for s in columns[STATE]], dtype=bool)
    return out


def _item(row: dict[str, Any], text_column: str) -> tuple[Any, str]:
    """The ingestor's input item of one dataset row, and where it came from."""
    if LINE in row:
        where = str(row.get(PATH) or "jsonl")
        line = row[LINE]
        item = parse_json_object(line, f"{where}: line {line[:40]!r}")  # the single-process reader's rule
        if isinstance(item, BadLine):
            return Rejection(None, item.where, item.problem), where
        return item, where
    item = dict(row)
    if text_column != "text":
        item["text"] = item.pop(text_column, None)
    if isinstance(item.get("metadata"), str):  # metadata kept as a JSON string column keeps its exact keys
        with contextlib.suppress(json.JSONDecodeError):  # if not JSON, make_document rejects it with the reason
            item["metadata"] = json.loads(item["metadata"])
    return item, "dataset"


class IngestEmbedder(Embedder):
    """Actor: validates a batch of rows, marks those stored unchanged (server targets), embeds the rest.

    Validation and look-up share the embedding actor (rather than stages of their own) because every
    Ray worker that runs this package pays for importing torch; they are light next to encoding. With a
    ``sparse`` side, the actor also loads that learned sparse model once (with the dense model's device and
    precision) and adds each embedded row's document vector in a column of its own.
    """

    def __init__(
        self,
        model: SentenceEncoder | str | None,
        settings: ActorSettings,
        text_column: str,
        salt: str,
        check: MetadataCheck | None,
        target: QdrantTarget | ChromaTarget | None = None,
        sparse: LearnedSparseSide | None = None,
    ) -> None:
        super().__init__(model, settings, TEXT, EMBEDDING, "document", False, only=TODO, truncated_column=TRUNCATED)
        self.source_column, self.salt, self.check = text_column, salt, check
        self.sink: Sink | None = None
        if target is not None:
            self.ingestor = target.open(None, recreate=False)
            self.sink = target.worker_sink(self.ingestor)
            self.policy = target.retry
        self.sparse: tuple[str, LearnedSparseEncoder] | None = None
        if sparse is not None:
            from sbert_plugins.sparse import SparseEncoder

            loaded = SparseEncoder(sparse.model, device=settings.device, precision=settings.precision)
            encoder = LearnedSparseEncoder(loaded, batch_size=settings.encode_batch_size)
            self.sparse = (SPARSE_PREFIX + sparse.vector_name, encoder)

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:  # type: ignore[override]
        rows = validate_batch(batch, text_column=self.source_column, salt=self.salt, check=self.check)
        todo = np.flatnonzero(rows[TODO])
        if self.sink is not None and len(todo):
            existing = _existing(self.sink, [rows[POINT_ID][i] for i in todo], self.policy)
            for i in todo:
                stored = existing.get(rows[POINT_ID][i], _ABSENT)
                if stored == rows[HASH][i]:
                    rows[STATE][i], rows[TODO][i] = SKIP, False
                elif stored is not _ABSENT:
                    rows[STATE][i] = REPLACE
        out = super().__call__(rows)
        if self.sparse is not None:
            column, encoder = self.sparse
            todo = np.flatnonzero(out[TODO])
            cells = np.full(len(out[TODO]), None, dtype=object)
            for i, vector in zip(todo, encoder.encode_documents([out[TEXT][i] for i in todo]), strict=True):
                cells[i] = json.dumps([vector.indices, vector.values])
            out[column] = cells
        return out


class Writer:
    """Actor: writes the embedded rows of each batch and returns the batch's counts (one row)."""

    def __init__(self, target: QdrantTarget | ChromaTarget) -> None:
        self.ingestor = target.open(None, recreate=False)
        self.sink = target.worker_sink(self.ingestor)
        self.policy = target.retry

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        counts = store_batch(self.sink, batch, self.policy, look_up=False)
        return {k: np.array([v], dtype=object if isinstance(v, str) else None) for k, v in counts.items()}


_ABSENT = object()


def _existing(sink: Sink, ids: list[str], policy: RetryPolicy) -> dict[str, str | None]:
    return sink_call(lambda: sink.existing_hashes(ids), policy, "reading stored content hashes")


def store_batch(sink: Sink, batch: Mapping[str, np.ndarray], policy: RetryPolicy, *, look_up: bool) -> dict[str, Any]:
    """Write the embedded rows of ``batch`` to ``sink``; returns its counts (the written ids as JSON).

    With ``look_up`` the stored hashes are read first and unchanged rows are not written (the driver
    path, which has no look-up stage before embedding).
    """
    states = batch[STATE]
    rejected = [[batch[DOC_ID][i], batch[WHERE][i], batch[REASON][i]] for i in np.flatnonzero(states == REJECT)]
    skipped = int(np.sum(states == SKIP))
    todo = [int(i) for i in np.flatnonzero((states == NEW) | (states == REPLACE))]
    replaces = {i: states[i] == REPLACE for i in todo}
    if look_up and todo:
        existing = _existing(sink, [batch[POINT_ID][i] for i in todo], policy)
        unchanged = {i for i in todo if existing.get(batch[POINT_ID][i], _ABSENT) == batch[HASH][i]}
        skipped += len(unchanged)
        todo = [i for i in todo if i not in unchanged]
        replaces = {i: batch[POINT_ID][i] in existing for i in todo}
    docs = [
        IngestDocument(
            batch[TEXT][i], json.loads(batch[METADATA][i]), batch[DOC_ID][i], batch[POINT_ID][i], batch[HASH][i]
        )
        for i in todo
    ]
    vectors = np.asarray(batch[EMBEDDING], dtype=np.float32)[todo] if todo else None
    sparse = computed_sparse(batch, todo)
    size = sink.max_batch_size
    for start in range(0, len(docs), size):
        part = docs[start : start + size]
        part_sparse = {name: rows[start : start + size] for name, rows in sparse.items()}
        prepared = sink.prepare(part, vectors[start : start + size], part_sparse)  # type: ignore[index]
        sink_call(partial(sink.write, prepared), policy, f"writing {len(part)} documents")
    return {
        "written": len(docs),
        "overwritten": sum(replaces[i] for i in todo),
        "skipped": skipped,
        "truncated": int(np.sum(batch[TRUNCATED])) if TRUNCATED in batch else 0,
        "rejected": json.dumps(rejected),
        "written_ids": json.dumps([[d.point_id, d.doc_id] for d in docs]),
    }


def computed_sparse(batch: Mapping[str, np.ndarray], rows: Sequence[int]) -> dict[str, list[SparseVector]]:
    """The sparse vectors the embedding actor computed for ``rows`` of ``batch``, by vector name (none
    when it computed none)."""
    vectors: dict[str, list[SparseVector]] = {}
    for column in batch:
        if column.startswith(SPARSE_PREFIX):
            cells = [json.loads(batch[column][i]) for i in rows]
            vectors[column[len(SPARSE_PREFIX) :]] = [SparseVector(tuple(i), tuple(v)) for i, v in cells]
    return vectors


class _Tally:
    """The driver's running totals; a point written twice in one job is reported as a duplicate."""

    def __init__(self) -> None:
        self.written = self.overwritten = self.skipped = self.truncated = 0
        self.rejected: list[Rejection] = []
        self._seen: set[int] = set()

    def add(self, counts: Mapping[str, Any]) -> None:
        self.overwritten += int(counts["overwritten"])
        self.skipped += int(counts["skipped"])
        self.truncated += int(counts["truncated"])
        self.rejected.extend(Rejection(*r) for r in json.loads(counts["rejected"]))
        for point, doc_id in json.loads(counts["written_ids"]):
            key = uuid.UUID(point).int
            if key in self._seen:
                self.rejected.append(
                    Rejection(
                        doc_id,
                        "dataset",
                        "duplicate: another document of this job has the same id; "
                        "the stored one is whichever was written last",
                    )
                )
            else:
                self._seen.add(key)
                self.written += 1

    def summary(self, collection: str, seconds: float) -> Summary:
        rejected = tuple(self.rejected)
        return Summary(collection, self.written, self.overwritten, self.skipped, rejected, seconds, self.truncated)


def ingest_dataset(
    ds: Any,
    model: SentenceEncoder | str | Path | None,
    target: QdrantTarget | ChromaTarget,
    *,
    text_column: str = "text",
    concurrency: int | tuple[int, int] = 1,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    batch_size: int = 256,
    encode_batch_size: int | None = None,
    precision: Precision = "fp32",
    device: str | None = None,
    writers: int = 1,
) -> Summary:
    """Embed and write a Ray ``Dataset`` of documents into Qdrant or Chroma, with the ingestors' rules.

    Rows are documents as the single-process ingestor takes them (columns ``id``/``_id``, the text,
    optional ``title``, ``metadata`` as a dict or a JSON string, other columns become metadata), or raw
    JSONL lines from :func:`read_jsonl`. Re-running the same job writes nothing twice: point ids are
    uuid5 of the document ids, and documents stored with the same content hash are skipped; against a
    server they are skipped before they are encoded.

    Args:
        ds: a ``ray.data.Dataset``.
        model: a model folder or name (loaded once per actor; the folder must exist on every node) or
            a :class:`SentenceEncoder` (shipped to the actors). The driver also loads it once, for the
            collection's dimension and similarity.
        target: a :class:`QdrantTarget` or :class:`ChromaTarget`. With ``url`` (a server) Ray workers
            look up and write in parallel; with ``path`` (an embedded, single-process store) the
            driver does the look-ups and writes, and the workers only embed (so a re-run re-encodes).
            A learned sparse model (``QdrantTarget.sparse_model``, or the one the collection records) is
            loaded once per embedding actor too, with the same precision and device, and its vectors are
            stored beside the dense ones exactly as :class:`~integrations.qdrant.QdrantIngestor` stores them.
        text_column: the column with the texts (with ``title``, embedded as ``title + " " + text``).
        concurrency, num_cpus, num_gpus, batch_size, encode_batch_size, precision, device: the
            embedding actors (see :func:`~integrations.ray.embed_dataset`).
        writers: writer actors against a server (each holds one client).

    Returns:
        a :class:`~integrations._ingest.Summary`: written, overwritten, skipped, rejected (with reasons).

    Raises:
        ConfigError: an invalid setting, before anything runs.
        IntegrationError: the collection does not fit the model (nothing written), or the store failed
            after retries (the message says how many documents were confirmed written; run again to resume).
        MissingDependencyError: Ray Data is not installed.
    """
    ray_module()
    settings = _settings(concurrency, num_cpus, num_gpus, batch_size, encode_batch_size, precision, device)
    _check_columns(text_column)
    if not isinstance(target, (QdrantTarget, ChromaTarget)):
        raise ConfigError(f"target must be a QdrantTarget or a ChromaTarget, found {type(target).__name__}")
    if isinstance(writers, bool) or not isinstance(writers, int) or writers <= 0:
        raise ConfigError(f"writers must be a positive integer, found {writers!r}")
    shipped = _shippable(model)
    started = time.perf_counter()
    ingestor, opened = _open(target, model)
    try:
        workers, sparse = target.for_workers(ingestor)
        stages = (
            shipped,
            settings,
            text_column,
            ingestor.hash_salt(),
            ingestor.metadata_check,
            workers if target.remote else None,
            sparse,
        )
        rows = ds.map_batches(
            IngestEmbedder, fn_constructor_args=stages, batch_format="pyarrow", **settings.map_options()
        )
        tally = _Tally()
        try:
            if target.remote:
                counts = rows.map_batches(
                    Writer,
                    fn_constructor_args=(workers,),
                    concurrency=writers,
                    num_cpus=WRITER_CPUS,
                    batch_size=settings.batch_size,
                    batch_format="numpy",
                )
                for row in counts.iter_rows():
                    tally.add(row)
            else:
                for batch in rows.iter_batches(batch_size=settings.batch_size, batch_format="numpy"):
                    tally.add(store_batch(opened.sink, batch, target.retry, look_up=True))
        except Exception as exc:
            raise _stopped(exc, target.collection, tally) from exc
    finally:
        ingestor.close()
    return replace(tally.summary(target.collection, time.perf_counter() - started), reencoded=opened.reencoded)


def _open(
    target: QdrantTarget | ChromaTarget, model: SentenceEncoder | str | Path | None
) -> tuple[BaseIngestor, OpenedCollection]:
    """The driver's ingestor and write target: the collection created or checked against the model (and
    re-encoded when the target asks), no document written."""
    where = target.url or target.path
    try:
        ingestor = target.open(model)
    except RetryError as exc:  # the server could not be reached, even after retries
        raise IntegrationError(
            f"could not open collection {target.collection!r} at {where}: {exc}. 0 documents were written; "
            "run the ingest again once the server is reachable"
        ) from exc
    try:
        return ingestor, ingestor.open_for_writing()
    except BaseException:
        ingestor.close()
        raise


def _stopped(exc: Exception, collection: str, tally: _Tally) -> Exception:
    """The error to raise when the Ray job failed: a configuration or data error as is, else an IntegrationError."""
    cause = exc
    while cause.__cause__ is not None and not isinstance(cause, SbertPluginsError):
        cause = cause.__cause__  # type: ignore[assignment]
    if isinstance(cause, SbertPluginsError) and not isinstance(cause, IntegrationError):
        return cause
    return IntegrationError(
        f"ingest into {collection!r} through Ray stopped: {cause}. {tally.written} documents were confirmed written "
        f"({tally.skipped} already present were skipped, {len(tally.rejected)} rejected). Run the same ingest again "
        "to resume: documents already stored are skipped."
    )
