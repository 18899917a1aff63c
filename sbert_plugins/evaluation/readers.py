"""Readers for evaluation data files: STS pairs (CSV/TSV) and BEIR retrieval sets (JSONL + qrels TSV).

Every problem raises :class:`~sbert_plugins.errors.DataError` naming ``file:line``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbert_plugins.errors import DataError

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
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if not score_scale > 0 or not math.isfinite(score_scale):
        raise DataError(f"score_scale must be a positive number, found {score_scale}")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    data = StsData([], [], [])
    columns = (0, 1, 2)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        first = True
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if first:
                first = False
                if len(row) >= 3 and _parse_float(row[2]) is None:
                    columns = _header_columns(path, row)
                    continue
            if len(row) <= max(columns):
                raise DataError(
                    f"{path}:{line}: expected columns sentence1, sentence2, score; found {len(row)} column(s)"
                )
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


def _jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, found {type(obj).__name__}")
            yield line_no, obj


def _record_id(path: Path, line_no: int, obj: dict[str, Any]) -> str:
    value = obj.get("_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise DataError(f'{path}:{line_no}: missing or invalid "_id" (a non-empty string), found {value!r}')
    return str(value)


def _text_field(path: Path, line_no: int, obj: dict[str, Any], field: str, *, required: bool) -> str:
    value = obj.get(field, None if required else "")
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DataError(f'{path}:{line_no}: field "{field}" must be a string, found {type(value).__name__}')
    return value


def read_beir_corpus(paths: Sequence[str | Path]) -> dict[str, str]:
    """Documents from BEIR ``corpus.jsonl`` file(s), read in order: id -> ``title + " " + text`` (stripped)."""
    corpus: dict[str, str] = {}
    where: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        for line_no, obj in _jsonl_objects(path):
            doc_id = _record_id(path, line_no, obj)
            if doc_id in corpus:
                raise DataError(f"{path}:{line_no}: duplicate document id {doc_id!r} (first at {where[doc_id]})")
            title = _text_field(path, line_no, obj, "title", required=False)
            text = _text_field(path, line_no, obj, "text", required=True)
            corpus[doc_id] = f"{title} {text}".strip()
            where[doc_id] = f"{path}:{line_no}"
    if not corpus:
        raise DataError(f"no documents in {', '.join(str(p) for p in paths)}")
    return corpus


def read_beir_queries(path: str | Path) -> dict[str, str]:
    """Queries from a BEIR ``queries.jsonl``: id -> text."""
    path = Path(path)
    queries: dict[str, str] = {}
    for line_no, obj in _jsonl_objects(path):
        query_id = _record_id(path, line_no, obj)
        if query_id in queries:
            raise DataError(f"{path}:{line_no}: duplicate query id {query_id!r}")
        queries[query_id] = _text_field(path, line_no, obj, "text", required=True)
    if not queries:
        raise DataError(f"{path}: no queries")
    return queries


def read_qrels(path: str | Path) -> dict[str, set[str]]:
    """Relevance judgments from a BEIR qrels TSV (``query-id corpus-id score``, header optional;
    TREC's 4-column ``qid iter docid rel`` also works). Judgments with score > 0 count as relevant."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    relevant: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            cells = line.split("\t") if "\t" in line else line.split()
            cells = [cell.strip() for cell in cells]
            if len(cells) not in (3, 4):
                raise DataError(
                    f"{path}:{line_no}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                    f"found {len(cells)}"
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
