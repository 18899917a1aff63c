"""Training rows: texts in named columns plus an optional label, from Python lists or JSONL / CSV / TSV files.

Every row is checked before training starts; a bad one raises :class:`DataError` naming the file and
line (or the list index) and the problem. Rows are stored column by column, and labels as one tensor,
so that building a batch is a few list look-ups and one tensor index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sbert_plugins.errors import DataError
from sbert_plugins.readers import read_csv_rows, read_jsonl

LABEL_COLUMN = "label"
FILE_SUFFIXES = (".jsonl", ".csv", ".tsv")


@dataclass(frozen=True)
class TrainingDataset:
    """Validated training rows, stored by column.

    Attributes:
        name: the dataset's name (its key when training on several).
        columns: names of the text columns, in the order the loss receives them.
        texts: one list of strings per text column, all of the same length.
        labels: one label per row (a 1-D tensor for numbers, 2-D for vectors), or ``None``.
        source: where the rows came from (a file path or ``"<list>"``), for messages.
    """

    name: str
    columns: tuple[str, ...]
    texts: tuple[list[str], ...]
    labels: Tensor | None
    source: str

    def __len__(self) -> int:
        return len(self.texts[0]) if self.texts else 0

    def batch_texts(self, indices: Sequence[int]) -> list[list[str]]:
        """The texts of rows ``indices``: one list per column."""
        return [[column[i] for i in indices] for column in self.texts]

    def batch_labels(self, indices: Sequence[int]) -> Tensor | None:
        """The labels of rows ``indices`` (``None`` for an unlabelled dataset)."""
        if self.labels is None:
            return None
        return self.labels[torch.as_tensor(indices, dtype=torch.long)]

    def row_texts(self, index: int) -> tuple[str, ...]:
        """All texts of row ``index``."""
        return tuple(column[index] for column in self.texts)


def load_dataset(
    source: str | Path | Sequence[Mapping[str, Any]] | TrainingDataset,
    *,
    name: str = "train",
    columns: Sequence[str] | None = None,
    label_column: str | None = LABEL_COLUMN,
) -> TrainingDataset:
    """Read and validate training rows.

    Args:
        source: a list of dicts, or a ``.jsonl`` / ``.csv`` / ``.tsv`` file whose columns are named (JSON keys or
            a header line); an already loaded :class:`TrainingDataset` is returned unchanged.
        name: the dataset's name, used in messages and the model card.
        columns: the text columns, in the order the loss receives them (default: every column except the label,
            in the order of the first row or the header).
        label_column: the column holding labels (``None``: the rows have no labels). When the column is absent
            from the first row, the dataset is unlabelled.

    Returns:
        The rows as a :class:`TrainingDataset`.

    Raises:
        DataError: the file is missing or has no rows, or a row lacks a column, has a text that is not a
            string, or a label that is not a number (or list of numbers) of the same kind as the others,
            or NaN / infinite; the message names the file and line, or the list index.
    """
    if isinstance(source, TrainingDataset):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        rows: Iterable[tuple[str, Mapping[str, Any]]] = _read_file(path, label_column)
        origin = str(path)
    elif isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        rows = _list_rows(source, name)
        origin = "<list>"
    else:
        raise DataError(
            f"dataset {name!r}: expected a list of dicts or a path to a .jsonl/.csv/.tsv file, "
            f"found {type(source).__name__}"
        )
    return _build(rows, name=name, origin=origin, columns=columns, label_column=label_column)


def load_datasets(
    sources: Mapping[str, Any] | Any,
    *,
    columns: Sequence[str] | None = None,
    label_column: str | None = LABEL_COLUMN,
) -> dict[str, TrainingDataset]:
    """One dataset (named ``"train"``) or a dict of named datasets, each through :func:`load_dataset`."""
    if isinstance(sources, Mapping):
        if not sources:
            raise DataError("train_data is an empty dict; give at least one dataset")
        return {
            str(key): load_dataset(value, name=str(key), columns=columns, label_column=label_column)
            for key, value in sources.items()
        }
    return {"train": load_dataset(sources, name="train", columns=columns, label_column=label_column)}


# ---- readers ---------------------------------------------------------------------------------


def _list_rows(source: Sequence[Any], name: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for index, row in enumerate(source):
        yield f"{name}[{index}]", row


def _read_file(path: Path, label_column: str | None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(FILE_SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".jsonl":
        yield from read_jsonl(path)
    else:
        yield from _read_delimited(path, "\t" if path.suffix.lower() == ".tsv" else ",", label_column)


def _read_delimited(path: Path, delimiter: str, label_column: str | None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    # QUOTE_NONE for TSV: tab-separated corpora often hold bare quote characters inside texts.
    rows = read_csv_rows(path, delimiter=delimiter, quote=delimiter != "\t")
    _, header = next(rows, (0, None))
    if header is None:
        raise DataError(f"{path}: the file is empty; the first line must name the columns")
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise DataError(f"{path}:1: the header must name every column once, found {header}")
    for line_no, record in rows:
        where = f"{path}:{line_no}"
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) > len(header):
            raise DataError(
                f"{where}: {len(record)} fields but the header names {len(header)} columns {header}"
                + (" (a text with a tab?)" if delimiter == "\t" else " (quote texts that hold commas)")
            )
        yield (
            where,
            {key: _parse_label(value) if key == label_column else value for key, value in zip(header, record)},
        )


def _parse_label(value: str) -> Any:
    """A label cell becomes a number when it reads as one (checked later)."""
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value


# ---- validation ------------------------------------------------------------------------------


def _build(
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    name: str,
    origin: str,
    columns: Sequence[str] | None,
    label_column: str | None,
) -> TrainingDataset:
    text_columns: tuple[str, ...] | None = tuple(columns) if columns is not None else None
    if text_columns is not None and not text_columns:
        raise DataError(f"dataset {name!r}: columns must name at least one text column")
    texts: tuple[list[str], ...] = ()
    labels: list[Any] = []
    has_label = False
    label_kind: str | None = None
    vector_size = 0
    for where, row in rows:
        if not isinstance(row, Mapping):
            raise DataError(f"{where}: expected a dict of column -> value, found {type(row).__name__}")
        if text_columns is None:
            text_columns = tuple(str(k) for k in row if k != label_column)
            if not text_columns:
                raise DataError(f"{where}: the row has no text column (found only {list(row)})")
        if not texts:
            texts = tuple([] for _ in text_columns)
            has_label = label_column is not None and label_column in row
        for column, values in zip(text_columns, texts):
            if column not in row or row[column] is None:
                raise DataError(f"{where}: missing column {column!r} (expected text columns {list(text_columns)})")
            value = row[column]
            if not isinstance(value, str):
                shown = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
                raise DataError(f"{where}: column {column!r} must be a string, found {type(value).__name__} {shown}")
            values.append(value)
        if columns is None:
            extra = [k for k in row if k != label_column and k not in text_columns]
            if extra:
                raise DataError(
                    f"{where}: unexpected column(s) {extra}; every row must have the columns of the first row "
                    f"{list(text_columns)}, or pass columns=[...] to pick the text columns"
                )
        if has_label and label_column is not None:
            if label_column not in row or row[label_column] is None:
                raise DataError(f"{where}: missing column {label_column!r} (the first row has a label)")
            kind, value, size = _check_label(where, label_column, row[label_column])
            if label_kind is None:
                label_kind, vector_size = kind, size
            elif kind != label_kind or size != vector_size:
                first = f"{label_kind}" + (f" of length {vector_size}" if label_kind == "vector" else "")
                found = f"{kind}" + (f" of length {size}" if kind == "vector" else "")
                raise DataError(f"{where}: label {row[label_column]!r} is a {found}, but earlier labels are {first}")
            labels.append(value)
        elif label_column is not None and label_column in row:
            raise DataError(f"{where}: unexpected column {label_column!r}: the first row has no label")
    if text_columns is None or not texts or not texts[0]:
        raise DataError(f"dataset {name!r} ({origin}): no rows")
    return TrainingDataset(
        name=name,
        columns=text_columns,
        texts=texts,
        labels=_label_tensor(labels) if has_label else None,
        source=origin,
    )


def _check_label(where: str, column: str, value: Any) -> tuple[str, Any, int]:
    """Returns (kind, value, vector length): kind is ``number`` or ``vector``."""
    if _is_number(value):
        _check_finite(where, column, value)
        return "number", value, 0
    if isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value):
        for v in value:
            _check_finite(where, column, v)
        return "vector", list(value), len(value)
    hint = " (map class names to integers first)" if isinstance(value, str) else ""
    raise DataError(
        f"{where}: column {column!r} must be a number or a non-empty list of numbers, "
        f"found {type(value).__name__} {value!r}{hint}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_finite(where: str, column: str, value: int | float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise DataError(f"{where}: column {column!r} is {value!r}; labels must be finite numbers")


def _label_tensor(labels: list[Any]) -> Tensor:
    """Integers stay integers (class labels); anything with a float becomes float32."""
    flat = [v for row in labels for v in row] if isinstance(labels[0], list) else labels
    if all(isinstance(v, int) for v in flat):
        return torch.tensor(labels, dtype=torch.long)
    return torch.tensor(labels, dtype=torch.float32)
