"""The one reader of the project's text data files: text lines, JSONL objects, BEIR corpus documents and
queries. Every command and library call that reads these files goes through here, so each problem has one
message, naming ``file:line`` and what is wrong.

Two ways to meet a bad line: the lenient readers (:func:`iter_lines`, :func:`iter_jsonl`) yield a
:class:`BadLine` in its place and go on (``ingest`` rejects and counts it, and ingests the rest); the strict
ones (:func:`read_lines`, :func:`read_jsonl`) raise :class:`DataError` at the first. Either way a file that is
not text at all (binary, or UTF-16) is one :class:`DataError` before any line is read; a UTF-8 byte-order mark
is skipped; a line that is not valid UTF-8 is a bad line, like one that is not valid JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbert_plugins.errors import DataError

_SNIFF_BYTES = 8192
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class BadLine:
    """A line that could not be read: where it is (``file:line``) and what is wrong with it."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"

    def error(self) -> DataError:
        """This problem as a :class:`DataError`."""
        return DataError(str(self))


@dataclass(frozen=True)
class CorpusDocument:
    """One BEIR corpus row: ``{"_id" (or "id"), "title" (optional), "text", ...}``.

    Attributes:
        id: the document id, as a string.
        title: the title (``""`` when absent).
        text: the text.
        where: ``file:line``.
        row: the whole JSON object (other keys are the caller's: e.g. metadata for ``ingest``).
    """

    id: str
    title: str
    text: str
    where: str
    row: dict[str, Any]

    @property
    def joined(self) -> str:
        """The title and text as one document (:func:`join_title`)."""
        return join_title(self.title, self.text)


def join_title(title: str, text: str) -> str:
    """How a titled document is embedded and stored (the BEIR convention): ``title + " " + text``
    (stripped) when the title is not blank, else the text as it is."""
    return f"{title} {text}".strip() if title.strip() else text


def check_text_file(path: str | Path) -> Path:
    """``path`` as a :class:`Path`, after checking that it is an existing file that holds text.

    Raises:
        DataError: no such file; a binary file (a NUL byte in its first 8 KiB) or a UTF-16 one.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    with file.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(_UTF16_BOMS):
        raise DataError(f"{file}: the file is UTF-16 text; save it as UTF-8")
    nul = head.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"{file}: not a text file (binary data: a NUL byte at offset {nul}); "
            "expected UTF-8 text (JSONL, .txt, CSV or TSV)"
        )
    return file


def iter_lines(path: str | Path, *, keep_ends: bool = False) -> Iterator[tuple[str, str | BadLine]]:
    """``(where, line)`` for each line of a UTF-8 text file, or a :class:`BadLine` for a line that is not
    UTF-8. A byte-order mark at the start is dropped; ``\\r\\n`` and ``\\n`` are removed unless ``keep_ends``.

    Raises:
        DataError: see :func:`check_text_file`.
    """
    file = check_text_file(path)
    with file.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[len(_UTF8_BOM) :]
            where = f"{file}:{line_no}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                yield (
                    where,
                    BadLine(
                        where, f"not UTF-8 text (byte 0x{byte:02x} at column {exc.start + 1}); save the file as UTF-8"
                    ),
                )
                continue
            yield where, line if keep_ends else line.rstrip("\r\n")


def read_lines(path: str | Path, *, keep_ends: bool = False) -> Iterator[str]:
    """The lines of a UTF-8 text file (see :func:`iter_lines`), raising at the first bad one.

    Raises:
        DataError: see :func:`check_text_file`; a line that is not UTF-8 (named by ``file:line``).
    """
    for _, line in iter_lines(path, keep_ends=keep_ends):
        if isinstance(line, BadLine):
            raise line.error()
        yield line


def read_csv_rows(path: str | Path, *, delimiter: str = ",", quote: bool = True) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each record of a CSV or TSV file (UTF-8, see :func:`read_lines`); the line
    number is the record's last line. ``quote=False`` reads quote characters as text (for TSV corpora).

    Raises:
        DataError: a line that is not UTF-8, or a record the csv module cannot read (e.g. a field over its
            size limit), named by ``file:line``.
    """
    reader = csv.reader(
        read_lines(path, keep_ends=True), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: not a readable CSV record ({exc})") from exc
        yield reader.line_num, row


def parse_json_object(line: str, where: str) -> dict[str, Any] | BadLine:
    """One JSONL line as a JSON object, or a :class:`BadLine` saying why it is not one."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return BadLine(where, f"invalid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return BadLine(where, "JSON nested too deeply to read; flatten the object")
    if not isinstance(row, dict):
        return BadLine(where, f"expected a JSON object, found {type(row).__name__}")
    return row


def iter_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any] | BadLine]]:
    """``(where, object)`` for each non-blank line of a JSONL file, or a :class:`BadLine` for a line that is
    not UTF-8, not JSON or not a JSON object.

    Raises:
        DataError: see :func:`check_text_file`.
    """
    for where, line in iter_lines(path):
        if isinstance(line, BadLine):
            yield where, line
        elif line.strip():
            yield where, parse_json_object(line, where)


def read_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, object)`` for each non-blank line of a JSONL file, raising at the first bad line.

    Raises:
        DataError: see :func:`check_text_file`; a bad line (see :func:`iter_jsonl`), named by ``file:line``.
    """
    for where, row in iter_jsonl(path):
        if isinstance(row, BadLine):
            raise row.error()
        yield where, row


def _record_id(row: dict[str, Any]) -> str | None:
    value = row.get("_id", row.get("id"))
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


def _string_field(row: dict[str, Any], key: str, *, required: bool) -> str | BadLine | None:
    """The string under ``key``; None when absent and not required; a problem (where filled in later)."""
    value = row.get(key)
    if value is None:
        return BadLine("", f"missing field {key!r}") if required else None
    if not isinstance(value, str):
        return BadLine("", f"field {key!r} must be a string, found {type(value).__name__}")
    return value


def corpus_document(row: dict[str, Any], where: str) -> CorpusDocument | BadLine:
    """A BEIR corpus row as a :class:`CorpusDocument`, or a :class:`BadLine`: no id (``"_id"`` or
    ``"id"``, a non-empty string or an integer), a missing or non-string ``text``, a non-string ``title``,
    or nothing to embed (empty title and text)."""
    doc_id = _record_id(row)
    if doc_id is None:
        return BadLine(where, f"missing document id '_id' (a non-empty string or an integer), found {row.get('_id')!r}")
    text = _string_field(row, "text", required=True)
    title = _string_field(row, "title", required=False)
    if isinstance(text, BadLine):
        return BadLine(where, text.problem)
    if isinstance(title, BadLine):
        return BadLine(where, title.problem)
    document = CorpusDocument(doc_id, title or "", text or "", where, row)
    if not document.joined.strip():
        return BadLine(where, f"document {doc_id!r} has an empty text (and title)")
    return document


def query_row(row: dict[str, Any], where: str) -> tuple[str, str] | BadLine:
    """A BEIR queries row ``{"_id", "text"}`` as ``(id, text)``, or a :class:`BadLine`."""
    query_id = _record_id(row)
    if query_id is None:
        return BadLine(where, f"missing query id '_id' (a non-empty string or an integer), found {row.get('_id')!r}")
    text = _string_field(row, "text", required=True)
    if isinstance(text, BadLine):
        return BadLine(where, text.problem)
    if not text or not text.strip():
        return BadLine(where, f"query {query_id!r} has an empty text")
    return query_id, text


def iter_corpus(paths: Sequence[str | Path]) -> Iterator[CorpusDocument | BadLine]:
    """The documents of BEIR corpus JSONL file(s), in order; bad lines and repeated ids as :class:`BadLine`.

    Raises:
        DataError: a missing or binary file (see :func:`check_text_file`).
    """
    first_seen: dict[str, str] = {}
    for path in paths:
        for where, row in iter_jsonl(path):
            document = row if isinstance(row, BadLine) else corpus_document(row, where)
            if isinstance(document, CorpusDocument):
                if document.id in first_seen:
                    yield BadLine(
                        where, f"document id {document.id!r} appears twice (first at {first_seen[document.id]})"
                    )
                    continue
                first_seen[document.id] = where
            yield document


def iter_queries(path: str | Path) -> Iterator[tuple[str, str] | BadLine]:
    """``(id, text)`` of each query of a BEIR ``queries.jsonl``; bad lines and repeated ids as :class:`BadLine`.

    Raises:
        DataError: a missing or binary file (see :func:`check_text_file`).
    """
    first_seen: dict[str, str] = {}
    for where, row in iter_jsonl(path):
        query = row if isinstance(row, BadLine) else query_row(row, where)
        if isinstance(query, tuple):
            if query[0] in first_seen:
                yield BadLine(where, f"query id {query[0]!r} appears twice (first at {first_seen[query[0]]})")
                continue
            first_seen[query[0]] = where
        yield query


__all__ = [
    "BadLine",
    "CorpusDocument",
    "check_text_file",
    "corpus_document",
    "iter_corpus",
    "iter_jsonl",
    "iter_lines",
    "iter_queries",
    "join_title",
    "parse_json_object",
    "query_row",
    "read_jsonl",
    "read_lines",
]
