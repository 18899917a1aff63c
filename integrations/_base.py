"""What the Qdrant and Chroma ingestors share: the model (loaded once, late), settings, ``ingest``."""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from integrations._identity import ModelIdentity, plan_write, reencoding_metadata
from integrations._ingest import MetadataCheck, Summary, content_hash, iter_inputs
from integrations._pipeline import Sink, run_ingest, sink_call
from integrations._retry import RetryError, RetryPolicy
from sbert_plugins.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

logger = logging.getLogger(__name__)


class _DropTruncationWarnings(logging.Filter):
    """Drops the encoder's per-call truncation warning on one thread (the summary reports the total)."""

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == self.thread_id and "max_seq_length" in str(record.msg))


@contextmanager
def _summarised_truncation() -> Iterator[None]:
    encoder_logger = logging.getLogger("sbert_plugins.encoder")
    drop = _DropTruncationWarnings(threading.get_ident())
    encoder_logger.addFilter(drop)
    try:
        yield
    finally:
        encoder_logger.removeFilter(drop)


@dataclass(frozen=True)
class SearchHit:
    """One search result: the document's id (the caller's, else the point id), text, metadata, score.

    ``score`` is higher for better matches: the model's similarity (cosine or dot product; minus the
    distance for euclidean and manhattan models), or the fused rank score for hybrid search.
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is a positive integer, else a :class:`ConfigError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, found {value!r}")
    return value


def check_collection_name(name: Any) -> str:
    """A non-empty collection name, else :class:`ConfigError`."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"collection must be a non-empty string, found {name!r}")
    return name


class BaseIngestor(ABC):
    """Model handling and the ``ingest`` entry point; subclasses provide the target.

    Args:
        model: a ready :class:`SentenceEncoder` (share one between ingestors to share its weights) or
            a model name or folder, loaded on first use.
        collection: the collection to write to and search.
        batch_size: documents per encode step; the next step is encoded while this one uploads.
        encode_batch_size: at most this many texts per forward pass; default: the encoder's own
            token-budget batching (texts sorted by length, batches filled up to a token budget).
        recreate: drop the collection first (once, at the first ingest).
        reencode: when the collection holds vectors of another model (another fingerprint), rewrite
            every stored vector with this model before ingesting, keeping ids, texts and metadata;
            without it such a collection is an error and nothing is written.
        retry: retries of transient server errors (default: 6 attempts, 0.5 s doubling to 10 s).

    A collection records the name and fingerprint of the model that wrote it
    (:mod:`integrations._identity`); content hashes are salted with the fingerprint, so a document is
    never skipped when its stored vector came from other weights.
    """

    def __init__(
        self,
        model: SentenceEncoder | str | Path | None,
        collection: str,
        *,
        batch_size: int = 256,
        encode_batch_size: int | None = None,
        recreate: bool = False,
        reencode: bool = False,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.collection = check_collection_name(collection)
        self.batch_size = positive_int("batch_size", batch_size)
        self.encode_batch_size = (
            None if encode_batch_size is None else positive_int("encode_batch_size", encode_batch_size)
        )
        self.recreate = bool(recreate)
        self.reencode = bool(reencode)
        self._recreated = False
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError(f"retry must be a RetryPolicy, found {type(retry).__name__}")
        self.retry = retry or RetryPolicy()
        self._model_spec = model
        self._model: SentenceEncoder | None = None
        self._model_lock = threading.Lock()

    @property
    def model(self) -> SentenceEncoder:
        """The encoder, loaded on first access when a name was given."""
        from sbert_plugins.encoder import SentenceEncoder

        with self._model_lock:
            if self._model is None:
                spec = self._model_spec
                self._model = spec if isinstance(spec, SentenceEncoder) else SentenceEncoder(spec)
            return self._model

    def ingest(self, documents: Iterable[Any] | str | Path, *, show_progress: bool = True) -> Summary:
        """Embed and upsert ``documents``; documents already stored unchanged are skipped.

        Args:
            documents: a BEIR-style JSONL file (``{_id, title, text, ...}`` per line), or any iterable
                (a generator is read lazily) of dicts ``{id, text, metadata}``, LangChain ``Document``
                objects or strings. A ``title`` is prepended to the text; other keys become metadata.
            show_progress: show a progress bar.

        Returns:
            a :class:`Summary` (written, skipped, rejected with reasons, re-encoded, seconds, docs/s).

        Raises:
            IntegrationError: the collection does not fit the model or holds another model's vectors
                (nothing is written), or the target failed after retries (the message says how many
                documents were written).
            DataError: the corpus file does not exist.
        """
        truncated = [0]

        def encode(texts: list[str]) -> np.ndarray:
            vectors = self.encode_documents(texts)
            truncated[0] += self.model.last_truncated_count  # this thread's call: the count is per thread
            return vectors

        total = len(documents) if isinstance(documents, Sized) and not isinstance(documents, (str, Path)) else None
        with _summarised_truncation():
            opened = self.open_for_writing()
            summary = run_ingest(
                iter_inputs(documents),
                opened.sink,
                encode,
                check=self.metadata_check,
                batch_size=self.batch_size,
                policy=self.retry,
                show_progress=show_progress,
                total=total,
                hash_salt=self.hash_salt(),
            )
        return replace(summary, truncated=truncated[0], reencoded=opened.reencoded)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        """The vectors this ingestor stores for ``texts``: the model's document encoding, with its batching."""
        return self.model.encode_documents(texts, batch_size=self.encode_batch_size, show_progress=False)

    def vector_settings(self) -> dict[str, Any]:
        """How vectors are made: the model's fingerprint (weights, prompts, similarity, ``truncate_dim``)
        and its dimension; subclasses add their own (BM25 parameters)."""
        model = self.model
        return {"fingerprint": model.fingerprint, "dimension": model.embedding_dim}

    def hash_salt(self) -> str:
        """:meth:`vector_settings` as the string mixed into every content hash, so that a change of model or
        settings re-encodes a document instead of skipping it."""
        return json.dumps(self.vector_settings(), sort_keys=True)

    @property
    def metadata_check(self) -> MetadataCheck | None:
        """The target's own rule for document metadata (None: any JSON metadata)."""
        return None

    def open_for_writing(self) -> OpenedCollection:
        """Create the collection (recording the model), or check an existing one against the model.

        A collection recorded as another model's (another fingerprint), one that records no model but
        holds vectors, or one left by an interrupted re-encode is re-encoded first when ``reencode`` is
        set, else refused. This is what every writer (the ingest loop, Ray) calls before writing.

        Returns:
            the write target and how many stored vectors were re-encoded.

        Raises:
            IntegrationError: the collection does not fit the model (dimension, distance, layout) or holds
                vectors of another model, or the server could not be reached: nothing was written. Or a
                re-encode stopped part-way (the message says how far; running it again finishes it).
        """
        try:
            identity = self.model_identity()
            sink, stored = self._open_collection(identity)
            reencoded = 0
            if stored is not None:
                empty = ModelIdentity.recorded(stored) is None and self.count() == 0
                plan = plan_write(self.collection, stored, identity, empty=empty, reencode=self.reencode)
                if plan == "claim":
                    self._write_identity(identity.metadata())
                elif plan == "reencode":
                    reencoded = self._reencode(sink, stored, identity)
        except RetryError as exc:
            self._forget_checks()
            raise IntegrationError(
                f"ingest into {self.collection!r} stopped before writing: {exc}. 0 documents were written; "
                "run the same ingest again once the server is reachable"
            ) from exc
        except BaseException:
            self._forget_checks()  # a refused collection is checked again before a search
            raise
        return OpenedCollection(sink, reencoded)

    def model_identity(self) -> ModelIdentity:
        """The identity this ingestor records in a collection and checks against it: the model's name and
        fingerprint (subclasses add a learned sparse model's)."""
        return ModelIdentity.of(self.model)

    @abstractmethod
    def _forget_checks(self) -> None:
        """Drop what the ingestor remembers of a collection it checked (it is cached for searching)."""

    def _reencode(self, sink: Sink, stored: Mapping[str, Any], identity: ModelIdentity) -> int:
        """Rewrite every stored vector with this model, keeping ids, texts and metadata; returns the count.

        The collection is marked as being re-encoded until the last page is written, so an interrupted
        re-encode is refused by later ingests and searches until it is run again.
        """
        previous = ModelIdentity.recorded(stored)
        logger.info("re-encoding collection %r (model %s) with model %s", self.collection, previous, identity)
        self._write_identity(reencoding_metadata(stored, identity))
        salt = self.hash_salt()
        count, cursor = 0, None
        try:
            while True:
                page, cursor = sink_call(partial(sink.stored_page, cursor), self.retry, "reading stored documents")
                if page:
                    docs = [replace(d, content_hash=content_hash(d.text, d.metadata, salt)) for d in page]
                    prepared = sink.prepare(docs, self.encode_documents([d.text for d in docs]))
                    sink_call(partial(sink.write, prepared), self.retry, f"re-encoding {len(docs)} documents")
                    count += len(docs)
                if cursor is None:
                    break
        except IntegrationError as exc:
            raise IntegrationError(
                f"re-encoding collection {self.collection!r} with model {identity} stopped after {count} documents: "
                f"{exc}. Run the same ingest with --reencode / reencode=True again to finish it; until then the "
                "collection is refused by ingests and searches"
            ) from exc
        self._write_identity(identity.metadata())
        return count

    def _encode_query(self, query: str) -> np.ndarray:
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"query must be a non-empty string, found {query!r}")
        return self.model.encode_queries(query)

    @abstractmethod
    def _open_collection(self, identity: ModelIdentity) -> tuple[Sink, Mapping[str, Any] | None]:
        """Drop the collection first if ``recreate`` asks (once); create it recording ``identity``, or check
        an existing one's layout against the model. Returns the write target and the existing collection's
        metadata (None when it was just created)."""

    @abstractmethod
    def _write_identity(self, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` (see :mod:`integrations._identity`) into the collection's metadata."""

    @abstractmethod
    def writer(self) -> Sink:
        """A write target on the collection as it is, without creating or checking it: for the workers of
        a job whose driver called :meth:`open_for_writing`."""

    @abstractmethod
    def count(self) -> int:
        """The number of documents in the collection."""

    @abstractmethod
    def close(self) -> None:
        """Close the client if the ingestor opened it (embedded stores unlock their folder)."""

    def __enter__(self) -> BaseIngestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class OpenedCollection:
    """What :meth:`BaseIngestor.open_for_writing` hands a writer: the target and how many vectors it re-encoded."""

    sink: Sink
    reencoded: int = 0
