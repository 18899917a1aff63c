"""Deterministic small corpora for the ingestor tests (also used by the kill -9 child process)."""

from __future__ import annotations

from typing import Any

_SUBJECTS = ["the man", "a woman", "the child", "a dog", "the cat", "an old horse", "two people", "a young girl"]
_ACTIONS = ["plays guitar", "eats bread", "runs in the park", "reads a book", "sings a song", "swims", "cooks food"]
_PLACES = ["in the city", "at night", "on the street", "in the kitchen", "by the tree", "with music"]


def make_text(i: int) -> str:
    """A short sentence over the tiny model's vocabulary, different for each ``i``."""
    return (
        f"{_SUBJECTS[i % len(_SUBJECTS)]} {_ACTIONS[(i // 3) % len(_ACTIONS)]} {_PLACES[(i // 7) % len(_PLACES)]} {i}"
    )


def make_docs(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` dicts ``{id, text, metadata}`` with ids ``doc-<i>``."""
    return [
        {"id": f"doc-{i}", "text": make_text(i), "metadata": {"n": i, "parity": "even" if i % 2 == 0 else "odd"}}
        for i in range(start, start + n)
    ]
