"""Retrieval pairs in, validated: JSONL ``{"query", "positive"}`` rows (optional ``"negative"`` /
``"negatives"``, or ``"positive_id"`` into a corpus) or a BEIR folder (corpus, queries, qrels).

Everything is checked before any model loads; problems are collected and reported together, each with
its file and line, so that one run shows every line to fix. Duplicate (query, positive) pairs are
dropped and counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbert_plugins.errors import DataError
from sbert_plugins.readers import BadLine, iter_corpus, iter_jsonl, iter_queries, read_csv_rows

MAX_REPORTED = 20


@dataclass
class RetrievalData:
    """Validated retrieval data.

    Attributes:
        corpus: document id -> text (title and text joined for BEIR rows).
        titled: document id -> (title, text) for corpus rows with a non-empty title (``corpus`` joins them).
        queries: query id -> text.
        relevant: query id -> ids of its relevant documents, in file order.
        negatives: query id -> ids of negatives given in the pairs file.
        pairs: distinct (query, positive) pairs kept.
        duplicates: repeated pairs that were dropped.
        source: where the pairs came from.
    """

    corpus: dict[str, str] = field(default_factory=dict)
    titled: dict[str, tuple[str, str]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    relevant: dict[str, list[str]] = field(default_factory=dict)
    negatives: dict[str, list[str]] = field(default_factory=dict)
    pairs: int = 0
    duplicates: int = 0
    source: str = ""

    def digest(self) -> str:
        """A hash of the content, so that a resumed run can tell the data changed."""
        payload = json.dumps([self.corpus, self.queries, self.relevant, self.negatives], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


class _Problems:
    """Collects ``file:line: message`` problems; raises them together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self, what: str) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_REPORTED]
        more = f"\n  ... and {len(self.items) - MAX_REPORTED} more" if len(self.items) > MAX_REPORTED else ""
        raise DataError(f"{len(self.items)} problem(s) in {what}; fix these lines:\n  " + "\n  ".join(shown) + more)


def _json_lines(path: Path, problems: _Problems) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, row in iter_jsonl(path):
        if isinstance(row, BadLine):
            problems.add(row.where, row.problem)
            continue
        yield where, row


def _text(row: dict[str, Any], key: str, where: str, problems: _Problems) -> str | None:
    value = row.get(key)
    if value is None:
        problems.add(where, f"missing field {key!r}")
    elif not isinstance(value, str):
        problems.add(where, f"field {key!r} must be a string, found {type(value).__name__}")
    elif not value.strip():
        problems.add(where, f"field {key!r} is empty")
    else:
        return value
    return None


def read_corpus(paths: list[Path], problems: _Problems) -> RetrievalData:
    """BEIR corpus rows (:func:`sbert_plugins.readers.iter_corpus`) -> the corpus (id -> ``title + " " +
    text``) and ``titled`` of a :class:`RetrievalData`."""
    corpus: dict[str, str] = {}
    titled: dict[str, tuple[str, str]] = {}
    for document in iter_corpus(paths):
        if isinstance(document, BadLine):
            problems.add(document.where, document.problem)
            continue
        corpus[document.id] = document.joined
        if document.title.strip():
            titled[document.id] = (document.title.strip(), document.text)
    return RetrievalData(corpus=corpus, titled=titled)


def _corpus_files(folder: Path) -> list[Path]:
    single = folder / "corpus.jsonl"
    parts = sorted(folder.glob("corpus-part*.jsonl"))
    return [single] if single.is_file() else parts


def read_pairs(pairs: str | Path, corpus: str | Path | None = None, *, qrels_split: str = "train") -> RetrievalData:
    """Read and validate retrieval pairs.

    Args:
        pairs: a JSONL file of ``{"query": str, "positive": str}`` rows (instead of ``positive``, a
            ``positive_id`` naming a corpus document; optional ``negative``: str or ``negatives``: [str]),
            or a BEIR folder with ``corpus.jsonl`` (or ``corpus-part*.jsonl``), ``queries.jsonl`` and
            ``qrels/<qrels_split>.tsv``.
        corpus: a BEIR-style corpus JSONL for JSONL pairs; positives and negatives given as text are added
            to it when absent. Without it, the corpus is the pairs' own positives and negatives.
        qrels_split: the qrels file of a BEIR folder.

    Returns:
        the :class:`RetrievalData`.

    Raises:
        DataError: missing files, malformed lines, missing fields, empty texts, ids not in the corpus or
            queries; the message lists each problem with its file and line. Also when fewer than two
            distinct queries remain (no dev split is possible).
    """
    source = Path(pairs)
    problems = _Problems()
    if source.is_dir():
        data = _read_beir(source, qrels_split, problems)
    elif source.is_file():
        corpus_paths = []
        if corpus is not None:
            corpus_path = Path(corpus)
            if not corpus_path.is_file():
                raise DataError(f"{corpus_path}: no such corpus file (a JSONL of {{_id, title, text}} rows)")
            corpus_paths = [corpus_path]
        data = read_corpus(corpus_paths, problems)
        _read_jsonl_pairs(source, data, problems)
    else:
        raise DataError(f"{source}: no such pairs file or BEIR folder")
    problems.raise_if_any(str(source))
    data.source = str(source)
    if len(data.queries) < 2:
        raise DataError(f"{source}: {len(data.queries)} distinct query found; at least 2 are needed for a dev split")
    return data


def _read_jsonl_pairs(path: Path, data: RetrievalData, problems: _Problems) -> None:
    by_text = {text: doc_id for doc_id, text in data.corpus.items()}
    query_ids: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()

    def doc_for(text: str) -> str:
        if text not in by_text:
            doc_id = f"pair-doc-{len(by_text)}"
            while doc_id in data.corpus:
                doc_id += "'"
            by_text[text] = doc_id
            data.corpus[doc_id] = text
        return by_text[text]

    for where, row in _json_lines(path, problems):
        unknown = sorted(set(row) - {"query", "positive", "positive_id", "negative", "negatives"})
        if unknown:
            problems.add(where, f"unknown field(s) {unknown}; valid: query, positive | positive_id, negative(s)")
            continue
        query = _text(row, "query", where, problems)
        if "positive_id" in row and "positive" in row:
            problems.add(where, "give either 'positive' (a text) or 'positive_id' (a corpus id), not both")
            continue
        positive_id: str | None = None
        if "positive_id" in row:
            raw = row["positive_id"]
            if isinstance(raw, bool) or not isinstance(raw, (str, int)) or str(raw) not in data.corpus:
                problems.add(where, f"positive_id {raw!r} is not a document id of the corpus")
                continue
            positive_id = str(raw)
        else:
            positive = _text(row, "positive", where, problems)
            if positive is not None and query is not None:
                positive_id = doc_for(positive)
        negative_texts = _negatives(row, where, problems)
        if query is None or positive_id is None or negative_texts is None:
            continue
        query_id = query_ids.setdefault(query, f"q{len(query_ids)}")
        data.queries[query_id] = query
        if (query_id, positive_id) in seen:
            data.duplicates += 1
            continue
        seen.add((query_id, positive_id))
        data.relevant.setdefault(query_id, []).append(positive_id)
        data.pairs += 1
        negatives = data.negatives.setdefault(query_id, [])
        negatives.extend(d for d in map(doc_for, negative_texts) if d not in negatives)
    for query_id, negatives in data.negatives.items():  # a text given as both positive and negative is positive
        negatives[:] = [d for d in negatives if d not in data.relevant.get(query_id, [])]


def _negatives(row: dict[str, Any], where: str, problems: _Problems) -> list[str] | None:
    if "negative" in row and "negatives" in row:
        problems.add(where, "give either 'negative' (a text) or 'negatives' (a list of texts), not both")
        return None
    if "negative" in row:
        value = _text(row, "negative", where, problems)
        return None if value is None else [value]
    values = row.get("negatives", [])
    if not isinstance(values, list):
        problems.add(where, f"field 'negatives' must be a list of strings, found {type(values).__name__}")
        return None
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            problems.add(where, f"negatives[{index}] must be a non-empty string, found {value!r}")
            return None
    return list(values)


def _read_beir(folder: Path, split: str, problems: _Problems) -> RetrievalData:
    corpus_files = _corpus_files(folder)
    queries_file = folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    missing = [str(p) for p in (queries_file, qrels_file) if not p.is_file()]
    if not corpus_files:
        missing.insert(0, str(folder / "corpus.jsonl"))
    if missing:
        raise DataError(
            f"{folder}: a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv; missing {missing}"
        )
    data = read_corpus(corpus_files, problems)
    all_queries: dict[str, str] = {}
    for query in iter_queries(queries_file):
        if isinstance(query, BadLine):
            problems.add(query.where, query.problem)
        else:
            all_queries[query[0]] = query[1]
    seen: set[tuple[str, str]] = set()
    rows = read_csv_rows(qrels_file, delimiter="\t")
    _, header = next(rows, (0, None))
    if header is None or [h.strip() for h in header[:2]] != ["query-id", "corpus-id"]:
        problems.add(f"{qrels_file}:1", "expected the header 'query-id<TAB>corpus-id<TAB>score'")
        return data
    for line_no, fields in rows:
        where = f"{qrels_file}:{line_no}"
        if not fields or not "".join(fields).strip():
            continue
        if len(fields) < 2:
            problems.add(where, f"expected query-id, corpus-id and score separated by tabs, found {fields!r}")
            continue
        query_id, doc_id = fields[0].strip(), fields[1].strip()
        score = fields[2].strip() if len(fields) > 2 else "1"
        try:
            relevant = float(score) > 0
        except ValueError:
            problems.add(where, f"score {score!r} is not a number")
            continue
        if query_id not in all_queries:
            problems.add(where, f"query id {query_id!r} is not in {queries_file.name}")
            continue
        if doc_id not in data.corpus:
            problems.add(where, f"corpus id {doc_id!r} is not in the corpus")
            continue
        if not relevant:
            continue
        if (query_id, doc_id) in seen:
            data.duplicates += 1
            continue
        seen.add((query_id, doc_id))
        data.queries[query_id] = all_queries[query_id]
        data.relevant.setdefault(query_id, []).append(doc_id)
        data.pairs += 1
    return data
