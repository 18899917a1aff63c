"""Vendor-free parts of ingestion: the document model, validation, point ids, content hashes, summary.

Every input form (LangChain ``Document``, dict, BEIR JSONL line, plain string) becomes an
:class:`IngestDocument` or a :class:`Rejection`; these functions are pure so they are tested on their
own. The encode/upload loop lives in :mod:`integrations._pipeline`.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbert_plugins.errors import DataError
from sbert_plugins.readers import BadLine, iter_jsonl, join_title

# Point ids are uuid5 names in this namespace: the same document id gives the same point id
# in every run, on every machine (that is what makes re-ingesting idempotent).
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://sbert-plugins/ingest")

# Stored next to each document: the caller's id and the hash that lets a re-ingest skip it.
DOC_ID_KEY = "_doc_id"
HASH_KEY = "_content_hash"
RESERVED_KEYS = (DOC_ID_KEY, HASH_KEY)

# Keys of an input dict that are not metadata (BEIR uses ``_id``; ``title`` is folded into the text).
_ID_KEYS = ("id", "_id")
_NON_METADATA_KEYS = {"id", "_id", "text", "title", "metadata"}

MetadataCheck = Callable[[Mapping[str, Any]], "str | None"]
"""A target's own metadata rule: returns the reason a metadata dict cannot be stored, or None."""


@dataclass(frozen=True)
class IngestDocument:
    """One valid document, ready to embed: its text, metadata, the caller's id and the derived keys."""

    text: str
    metadata: dict[str, Any]
    doc_id: str | None
    point_id: str
    content_hash: str


@dataclass(frozen=True)
class Rejection:
    """A document that was not ingested: its id (when it has one), where it came from and why."""

    doc_id: str | None
    where: str
    reason: str

    def __str__(self) -> str:
        label = f"id {self.doc_id!r} ({self.where})" if self.doc_id is not None else self.where
        return f"{label}: {self.reason}"


@dataclass(frozen=True)
class Summary:
    """What an ingest did.

    ``written`` counts documents upserted (new or changed), ``overwritten`` the part of them that
    replaced an older version, ``skipped`` documents already present with the same content hash
    (not re-encoded), ``rejected`` invalid documents with the reason for each.
    """

    collection: str
    written: int
    overwritten: int
    skipped: int
    rejected: tuple[Rejection, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    truncated: int = 0
    """Documents longer than the model's ``max_seq_length``: only their beginning was embedded."""
    reencoded: int = 0
    """Stored documents whose vectors were rewritten with this model before the ingest (``reencode``)."""

    @property
    def processed(self) -> int:
        """Documents read from the input: written + skipped + rejected."""
        return self.written + self.skipped + len(self.rejected)

    @property
    def docs_per_second(self) -> float:
        """Documents read per second of wall time (0.0 when no time was measured)."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        lines = [
            f"collection {self.collection!r}: {self.written} written ({self.overwritten} overwritten), "
            f"{self.skipped} skipped (already present), {len(self.rejected)} rejected "
            f"in {self.seconds:.1f}s ({self.docs_per_second:.1f} docs/s)"
        ]
        if self.reencoded:
            lines.append(f"  {self.reencoded} stored documents were re-encoded with this model first")
        if self.truncated:
            lines.append(
                f"  {self.truncated} written documents were longer than the model's max_seq_length: "
                "only their beginning was embedded"
            )
        lines.extend(f"  rejected {rejection}" for rejection in self.rejected)
        return "\n".join(lines)


def point_id(doc_id: str | None, text: str) -> str:
    """The deterministic point id: uuid5 of the document id, or of the text when there is no id."""
    name = f"id:{doc_id}" if doc_id is not None else f"text:{text}"
    return str(uuid.uuid5(ID_NAMESPACE, name))


def content_hash(text: str, metadata: Mapping[str, Any], salt: str = "") -> str:
    """SHA-256 (hex, 32 chars) of the text, the metadata and ``salt`` (what the vectors were made with).

    Raises ``ValueError``/``TypeError`` if the metadata is not plain JSON.
    """
    canonical = json.dumps([text, metadata, salt], sort_keys=True, ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _json_problem(value: Any, path: str) -> str | None:
    """Why ``value`` is not plain JSON (non-str keys, non-finite floats, other types), or None."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"metadata {path} is {value}, which cannot be stored"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"metadata key {key!r} under {path} is a {type(key).__name__}; keys must be strings"
            problem = _json_problem(item, f"{path}.{key}")
            if problem:
                return problem
        return None
    return f"metadata {path} is a {type(value).__name__}, which is not JSON; convert it to str, number or list"


def _fields(item: Any) -> tuple[Any, Any, Any]:
    """(id, text, metadata) of one input item, whatever its form; raises ``DataError`` for unknown forms."""
    if isinstance(item, str):
        return None, item, {}
    if isinstance(item, Mapping):
        doc_id = next((item[k] for k in _ID_KEYS if item.get(k) is not None), None)
        text = item.get("text")
        nested = item.get("metadata")
        if nested is not None and not isinstance(nested, Mapping):
            raise DataError(f"'metadata' must be an object, found {type(nested).__name__}")
        metadata = dict(nested or {})
        metadata.update({k: v for k, v in item.items() if k not in _NON_METADATA_KEYS})
        title = item.get("title")
        if title is not None:
            if not isinstance(title, str):
                raise DataError(f"'title' must be a string, found {type(title).__name__}")
            if title.strip():
                metadata["title"] = title
                # BEIR convention: a document is embedded and stored as "title text".
                text = join_title(title, text) if isinstance(text, str) else text
        return doc_id, text, metadata
    if hasattr(item, "page_content") and hasattr(item, "metadata"):  # a LangChain Document, duck-typed
        return getattr(item, "id", None), item.page_content, dict(item.metadata or {})
    raise DataError(
        f"unsupported document type {type(item).__name__}; use a dict {{id, text, metadata}}, "
        "a LangChain Document or a string"
    )


def make_document(
    item: Any, where: str, check: MetadataCheck | None = None, *, salt: str = ""
) -> IngestDocument | Rejection:
    """Validate one input item and derive its point id and content hash.

    Args:
        item: a dict ``{id|_id, text, [title], [metadata], other keys}``, an object with
            ``page_content`` and ``metadata`` (a LangChain ``Document``), or a string.
        where: where the item came from (``"index 3"``, ``"corpus.jsonl:12"``), for messages.
        check: the target's own metadata rule (e.g. Chroma's flat values).
        salt: mixed into the content hash: a description of how vectors are made (model, BM25
            settings), so that changing it re-encodes documents instead of skipping them.

    Returns:
        an :class:`IngestDocument`, or a :class:`Rejection` naming the id and the reason.
    """
    try:
        raw_id, text, metadata = _fields(item)
    except DataError as exc:
        known = item.get("id", item.get("_id")) if isinstance(item, Mapping) else getattr(item, "id", None)
        return Rejection(str(known) if isinstance(known, (str, int)) else None, where, str(exc))
    doc_id: str | None = None
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            return Rejection(None, where, f"id must be a string or an integer, found {type(raw_id).__name__}")
        doc_id = str(raw_id)
    if not isinstance(text, str):
        return Rejection(doc_id, where, f"text must be a string, found {type(text).__name__}")
    if not text.strip():
        return Rejection(doc_id, where, "text is empty")
    reserved = sorted(set(metadata) & set(RESERVED_KEYS))
    if reserved:
        return Rejection(doc_id, where, f"metadata keys {reserved} are reserved by the ingestor; rename them")
    problem = _json_problem(metadata, "metadata")
    if problem is None and check is not None:
        problem = check(metadata)
    if problem is not None:
        return Rejection(doc_id, where, problem)
    return IngestDocument(text, metadata, doc_id, point_id(doc_id, text), content_hash(text, metadata, salt))


def read_corpus(path: str | Path) -> Iterator[tuple[Any, str]]:
    """Stream a BEIR-style JSONL corpus: ``(row, "file:line")`` pairs, one line at a time.

    A line that is not UTF-8, not JSON or not a JSON object (:func:`sbert_plugins.readers.iter_jsonl`)
    yields a :class:`Rejection` in place of the row, so that one bad line is reported and counted and the
    rest are still ingested.

    Raises:
        DataError: the file does not exist, or is not text (binary or UTF-16).
    """
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file (expected a JSONL corpus: one {{_id, title, text}} object a line)")
    for where, row in iter_jsonl(path):
        if isinstance(row, BadLine):
            yield Rejection(None, where, row.problem), where
        else:
            yield row, where


def iter_inputs(documents: Iterable[Any] | str | Path) -> Iterator[tuple[Any, str]]:
    """``(item, where)`` pairs from a JSONL path or from any iterable (lazily: generators stay lazy)."""
    if isinstance(documents, (str, Path)):
        yield from read_corpus(documents)
        return
    if isinstance(documents, Mapping):
        raise DataError("pass an iterable of documents, not a single dict (wrap it in a list)")
    for index, item in enumerate(documents):
        yield item, f"index {index}"
