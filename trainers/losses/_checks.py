"""Validation shared by the losses: hyper-parameters (ConfigError) and batches (DataError)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import torch
from torch import Tensor

from sbert_plugins.errors import ConfigError, DataError

# ---- hyper-parameters ------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def positive_number(owner: str, name: str, value: Any) -> float:
    """``value`` as a float, or ConfigError unless it is a finite number > 0."""
    if not _is_number(value) or value <= 0:
        raise ConfigError(f"{owner}: {name} must be a finite number > 0, found {value!r}")
    return float(value)


def non_negative_number(owner: str, name: str, value: Any) -> float:
    """``value`` as a float, or ConfigError unless it is a finite number >= 0."""
    if not _is_number(value) or value < 0:
        raise ConfigError(f"{owner}: {name} must be a finite number >= 0, found {value!r}")
    return float(value)


def integer_at_least(owner: str, name: str, value: Any, minimum: int) -> int:
    """``value``, or ConfigError unless it is an integer >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an integer >= {minimum}, found {value!r}")
    return value


def flag(owner: str, name: str, value: Any) -> bool:
    """``value``, or ConfigError unless it is a bool."""
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}: {name} must be True or False, found {value!r}")
    return value


def choice(owner: str, name: str, value: Any, options: Collection[str]) -> str:
    """``value``, or ConfigError unless it is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ConfigError(f"{owner}: {name} must be one of {sorted(options)}, found {value!r}")
    return value


# ---- batches ---------------------------------------------------------------------------------


def check_embeddings(owner: str, embeddings: Any, *, minimum: int, maximum: int | None, columns: str) -> list[Tensor]:
    """Check the column count and that every column is a ``(batch, dim)`` tensor of one batch size.

    ``columns`` describes the expected columns for the message, e.g. ``"(sentence_A, sentence_B)"``.
    """
    if not isinstance(embeddings, list | tuple) or not all(isinstance(e, Tensor) for e in embeddings):
        raise DataError(f"{owner} expects a list of embedding tensors, one per text column {columns}")
    check_column_count(owner, len(embeddings), minimum=minimum, maximum=maximum, columns=columns)
    for index, embedding in enumerate(embeddings):
        if embedding.dim() != 2:
            raise DataError(
                f"{owner}: column {index} embeddings must have shape (batch, dim), found {tuple(embedding.shape)}"
            )
    sizes = [int(e.shape[0]) for e in embeddings]
    if len(set(sizes)) > 1:
        raise DataError(f"{owner}: every text column must hold the same number of rows, found {sizes}")
    if sizes[0] == 0:
        raise DataError(f"{owner}: the batch is empty")
    return list(embeddings)


def check_column_count(owner: str, count: int, *, minimum: int, maximum: int | None, columns: str) -> None:
    """DataError unless ``minimum <= count <= maximum`` (no upper bound when ``maximum`` is None)."""
    if count >= minimum and (maximum is None or count <= maximum):
        return
    if maximum == minimum:
        expected = f"exactly {minimum}"
    elif maximum is None:
        expected = f"at least {minimum}"
    else:
        expected = f"{minimum} to {maximum}"
    raise DataError(f"{owner} expects {expected} text column(s) {columns}, got {count}")


def _as_label_vector(owner: str, labels: Tensor | None, batch_size: int, what: str) -> Tensor:
    if labels is None:
        raise DataError(f"{owner} needs labels ({what}), one per row; got labels=None")
    if not isinstance(labels, Tensor):
        raise DataError(f"{owner} expects labels as a torch.Tensor of {what}, found {type(labels).__name__}")
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels.view(-1)
    if labels.dim() != 1 or labels.shape[0] != batch_size:
        raise DataError(
            f"{owner} expects one label per row ({what}): shape ({batch_size},), found {tuple(labels.shape)}"
        )
    if labels.is_complex():
        raise DataError(f"{owner} expects real-valued labels ({what}), found dtype {labels.dtype}")
    return labels


def _first_bad(mask: Tensor) -> int:
    return int(mask.nonzero()[0, 0].item())


def float_labels(
    owner: str,
    labels: Tensor | None,
    batch_size: int,
    *,
    low: float | None = None,
    high: float | None = None,
    hint: str = "",
) -> Tensor:
    """One finite float label per row (optionally within ``[low, high]``), as a float32 vector.

    ``hint`` is appended to the error message (how to fix the data).
    """
    what = "finite float scores" if low is None or high is None else f"float scores in [{low:g}, {high:g}]"
    vector = _as_label_vector(owner, labels, batch_size, what).float()
    bad = ~torch.isfinite(vector)
    if low is not None and high is not None:
        bad |= (vector < low) | (vector > high)
    if bad.any():
        index = _first_bad(bad)
        raise DataError(
            f"{owner}: label {vector[index].item():.6g} at row {index} is invalid; expected {what}"
            + (f"; {hint}" if hint else "")
        )
    return vector


def class_labels(owner: str, labels: Tensor | None, batch_size: int, *, num_classes: int | None = None) -> Tensor:
    """One whole-number class id per row (``0 <= id < num_classes`` when given), as an int64 vector."""
    what = "integer class ids" if num_classes is None else f"integer class ids from 0 to {num_classes - 1}"
    vector = _as_label_vector(owner, labels, batch_size, what)
    if vector.is_floating_point():
        bad = ~torch.isfinite(vector) | (vector != vector.round())
        if bad.any():
            index = _first_bad(bad)
            raise DataError(f"{owner}: label {vector[index].item():.6g} at row {index} is invalid; expected {what}")
    vector = vector.long()
    if num_classes is not None:
        bad = (vector < 0) | (vector >= num_classes)
        if bad.any():
            index = _first_bad(bad)
            raise DataError(f"{owner}: label {vector[index].item()} at row {index} is invalid; expected {what}")
    return vector


def binary_labels(owner: str, labels: Tensor | None, batch_size: int) -> Tensor:
    """One label per row that is 0 or 1 (bool, int or float), as a float32 vector."""
    vector = _as_label_vector(owner, labels, batch_size, "0 or 1").float()
    bad = (vector != 0) & (vector != 1)
    if bad.any():
        index = _first_bad(bad)
        raise DataError(f"{owner}: label {vector[index].item():.6g} at row {index} is invalid; expected 0 or 1")
    return vector
