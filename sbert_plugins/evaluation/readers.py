"""Readers for evaluation data files: STS pairs (CSV/TSV) and BEIR retrieval sets (JSONL + qrels TSV).

Every problem raises :class:`~sbert_plugins.errors.DataError` naming ``file:line``; lines, JSONL and BEIR rows
are read by :mod:`sbert_plugins.readers`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbert_plugins.errors import DataError
from sbert_plugins.readers import BadLine, check_text_file, iter_corpus, iter_queries, read_csv_rows, read_lines

STS_COLUMNS = ("sentence1", "sentence2", "score")


@dataclass(frozen=True)
class StsData:
    """Sentence pairs with gold similarity scores."""

    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]


def _parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def read_sts(path: str | Path, *, score_scale: float = 1.0) -> StsData:
    """Read ``sentence1,sentence2,score`` rows from a CSV (or, for ``.tsv``, tab-separated) file.

    A first row whose score column is not a number is a header: its column names then locate
    ``sentence1``, ``sentence2`` and ``score`` (extra columns are ignored). Without a header the
    first three columns are used. Each score is divided by ``score_scale``.
    """
    path = check_text_file(path)
    if not score_scale > 0 or not math.isfinite(score_scale):
        raise DataError(f"score_scale must be a positive number, found {score_scale}")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    data = StsData([], [], [])
    columns = (0, 1, 2)
    first = True
    for line, row in read_csv_rows(path, delimiter=delimiter):
        if not any(cell.strip() for cell in row):
            continue
        if first:
            first = False
            if len(row) >= 3 and _parse_float(row[2]) is None:
                columns = _header_columns(path, row)
                continue
        if len(row) <= max(columns):
            raise DataError(f"{path}:{line}: expected columns sentence1, sentence2, score; found {len(row)} column(s)")
        score = _parse_float(row[columns[2]])
        if score is None or not math.isfinite(score):
            raise DataError(f"{path}:{line}: score {row[columns[2]]!r} is not a finite number")
        data.sentences1.append(row[columns[0]])
        data.sentences2.append(row[columns[1]])
        data.scores.append(score / score_scale)
    if len(data.scores) < 2:
        raise DataError(f"{path}: found {len(data.scores)} scored pair(s); a correlation needs at least two")
    return data


def _header_columns(path: Path, header: list[str]) -> tuple[int, int, int]:
    names = [name.strip().lower() for name in header]
    missing = [name for name in STS_COLUMNS if name not in names]
    if missing:
        raise DataError(
            f"{path}:1: the header {header} lacks {missing}; name the columns sentence1, sentence2, score "
            "(or drop the header and put them in that order)"
        )
    return names.index("sentence1"), names.index("sentence2"), names.index("score")


def read_beir_corpus(paths: Sequence[str | Path]) -> dict[str, str]:
    """Documents from BEIR ``corpus.jsonl`` file(s), read in order: id -> ``title + " " + text``
    (:attr:`sbert_plugins.readers.CorpusDocument.joined`).

    Raises:
        DataError: the first bad line or repeated id (``file:line``), a missing or binary file, no documents.
    """
    corpus: dict[str, str] = {}
    for document in iter_corpus(paths):
        if isinstance(document, BadLine):
            raise document.error()
        corpus[document.id] = document.joined
    if not corpus:
        raise DataError(f"no documents in {', '.join(str(p) for p in paths)}")
    return corpus


def read_beir_queries(path: str | Path) -> dict[str, str]:
    """Queries from a BEIR ``queries.jsonl``: id -> text.

    Raises:
        DataError: the first bad line or repeated id (``file:line``), a missing or binary file, no queries.
    """
    queries: dict[str, str] = {}
    for query in iter_queries(path):
        if isinstance(query, BadLine):
            raise query.error()
        queries[query[0]] = query[1]
    if not queries:
        raise DataError(f"{path}: no queries")
    return queries


def read_qrels(path: str | Path) -> dict[str, set[str]]:
    """Relevance judgments from a BEIR qrels TSV (``query-id corpus-id score``, header optional;
    TREC's 4-column ``qid iter docid rel`` also works). Judgments with score > 0 count as relevant."""
    relevant: dict[str, set[str]] = {}
    for line_no, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        cells = line.split("\t") if "\t" in line else line.split()
        cells = [cell.strip() for cell in cells]
        if len(cells) not in (3, 4):
            raise DataError(
                f"{path}:{line_no}: expected 3 tab-separated columns (query-id, corpus-id, score), found {len(cells)}"
            )
        query_id, doc_id, score_text = (
            (cells[0], cells[1], cells[2]) if len(cells) == 3 else (cells[0], cells[2], cells[3])
        )
        if not re.fullmatch(r"[+-]?\d+(\.\d+)?", score_text):
            if line_no == 1:
                continue  # the header
            raise DataError(f"{path}:{line_no}: score {score_text!r} is not a number")
        if float(score_text) > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    if not relevant:
        raise DataError(f"{path}: no relevance judgment with a score > 0")
    return relevant


def _natural_key(path: Path) -> list[Any]:
    """Name order with numbers compared as numbers (part2 before part10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


@dataclass(frozen=True)
class BeirFiles:
    """The files of one BEIR retrieval set."""

    corpus: list[Path]
    queries: Path
    qrels: Path


def find_beir_files(folder: str | Path, *, split: str | None = None) -> BeirFiles:
    """Locate ``corpus.jsonl`` (or ``corpus*.jsonl`` parts, in name order), ``queries.jsonl`` and
    ``qrels/<split>.tsv`` in a BEIR folder; without ``split``, the only qrels file, or ``test.tsv``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)")
    corpus = (
        [folder / "corpus.jsonl"]
        if (folder / "corpus.jsonl").is_file()
        else sorted(folder.glob("corpus*.jsonl"), key=_natural_key)
    )
    if not corpus:
        raise DataError(f"{folder}: no corpus.jsonl (or corpus*.jsonl parts)")
    queries = folder / "queries.jsonl"
    if not queries.is_file():
        raise DataError(f"{folder}: no queries.jsonl")
    available = sorted((folder / "qrels").glob("*.tsv"))
    if split is not None:
        qrels = folder / "qrels" / f"{split}.tsv"
        if not qrels.is_file():
            raise DataError(f"{qrels}: no such file; available splits: {[p.stem for p in available]}")
    elif len(available) == 1:
        qrels = available[0]
    elif (folder / "qrels" / "test.tsv").is_file():
        qrels = folder / "qrels" / "test.tsv"
    else:
        raise DataError(f"{folder}/qrels: choose a split with --split; available: {[p.stem for p in available]}")
    return BeirFiles(corpus=corpus, queries=queries, qrels=qrels)
