"""What the Qdrant and Chroma ingestors share: the model (loaded once, late), settings, ``ingest``."""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from integrations._ingest import MetadataCheck, Summary, iter_inputs
from integrations._pipeline import Sink, run_ingest
from integrations._retry import RetryError, RetryPolicy
from sbert_plugins.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder


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
        encode_batch_size: texts per forward pass of the model.
        retry: retries of transient server errors (default: 6 attempts, 0.5 s doubling to 10 s).
    """

    def __init__(
        self,
        model: SentenceEncoder | str | Path | None,
        collection: str,
        *,
        batch_size: int = 256,
        encode_batch_size: int = 32,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.collection = check_collection_name(collection)
        self.batch_size = positive_int("batch_size", batch_size)
        self.encode_batch_size = positive_int("encode_batch_size", encode_batch_size)
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
            a :class:`Summary` (written, skipped, rejected with reasons, seconds, docs/s).

        Raises:
            IntegrationError: the collection does not fit the model (nothing is written), or the
                target failed after retries (the message says how many documents were written).
            DataError: the corpus file does not exist.
        """
        try:
            sink = self._open_for_writing()
        except RetryError as exc:
            raise IntegrationError(
                f"ingest into {self.collection!r} stopped before writing: {exc}. 0 documents were written; "
                "run the same ingest again once the server is reachable"
            ) from exc
        total = len(documents) if isinstance(documents, Sized) and not isinstance(documents, (str, Path)) else None
        truncated = [0]

        def encode(texts: list[str]) -> np.ndarray:
            vectors = self.model.encode_documents(texts, batch_size=self.encode_batch_size, show_progress=False)
            truncated[0] += self.model.last_truncated_count
            return vectors

        with _summarised_truncation():
            summary = run_ingest(
                iter_inputs(documents),
                sink,
                encode,
                check=self._metadata_check(),
                batch_size=self.batch_size,
                policy=self.retry,
                show_progress=show_progress,
                total=total,
                hash_salt=json.dumps(self._vector_settings(), sort_keys=True),
            )
        return replace(summary, truncated=truncated[0])

    def _vector_settings(self) -> dict[str, Any]:
        """How vectors are made; part of each content hash, so that a change re-encodes instead of skipping."""
        model = self.model
        return {
            "model": model.source,
            "dimension": model.embedding_dim,
            "similarity": model.similarity_fn_name,
            "document_prompt": model.prompts.get("document", ""),
        }

    def _encode_query(self, query: str) -> np.ndarray:
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"query must be a non-empty string, found {query!r}")
        return self.model.encode_queries(query)

    def _metadata_check(self) -> MetadataCheck | None:
        return None

    @abstractmethod
    def _open_for_writing(self) -> Sink:
        """Create or check the collection (nothing written on a mismatch) and return the write target."""

    @abstractmethod
    def close(self) -> None:
        """Close the client if the ingestor opened it (embedded stores unlock their folder)."""

    def __enter__(self) -> BaseIngestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
