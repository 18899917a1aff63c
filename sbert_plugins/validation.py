"""Checks on user input shared by the encoders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def check_texts(texts: Sequence[Any] | Iterable[Any]) -> list[str]:
    """Return ``texts`` as a list, or raise ``TypeError`` naming the first element that is not a string."""
    if texts is None or isinstance(texts, (bytes, dict)):
        raise TypeError(f"expected a string or a sequence of strings, found {type(texts).__name__}")
    result = list(texts)
    for index, text in enumerate(result):
        if not isinstance(text, str):
            raise TypeError(f"text at index {index} is {type(text).__name__}, expected str")
    return result
