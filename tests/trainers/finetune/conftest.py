"""Tiny retrieval data over the tiny model's vocabulary: a corpus of short passages and question pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PASSAGES = {
    "dog": "the dog eats bread in the kitchen",
    "cat": "the cat sleeps on a chair at night",
    "horse": "the horse runs on the road in the city",
    "bird": "a bird sings a song in the tree",
    "guitar": "a man plays guitar in the park",
    "piano": "a woman plays piano in the house",
    "swim": "two children swim in the water",
    "book": "a girl is reading a book on a chair",
    "letter": "a boy writes a letter on the computer",
    "dance": "a group of people dance to music",
    "ball": "the boy kicks a ball on the street",
    "moon": "the moon is big at night",
}
QUESTIONS = {
    "dog": ["what does the dog eat", "who eats bread"],
    "cat": ["where does the cat sleep", "who sleeps at night"],
    "horse": ["where does the horse run", "who runs on the road"],
    "bird": ["who sings a song", "where does the bird sing"],
    "guitar": ["who plays guitar", "what does the man play"],
    "piano": ["who plays piano", "what does the woman play"],
    "swim": ["who swims in the water", "where do the children swim"],
    "book": ["who is reading a book", "what is the girl reading"],
    "letter": ["who writes a letter", "what does the boy write"],
    "dance": ["who dance to music", "what do people do to music"],
    "ball": ["who kicks a ball", "what does the boy kick"],
    "moon": ["when is the moon big", "what is big at night"],
}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Write ``rows`` (dicts, or raw strings kept as they are) one per line."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture()
def pair_files(tmp_path: Path) -> tuple[Path, Path]:
    """(pairs.jsonl with positive_id rows, corpus.jsonl): 24 questions about 12 titled passages."""
    titled = [{"_id": k, "title": " ".join(v.split()[:3]), "text": v} for k, v in PASSAGES.items()]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", titled)
    rows = [{"query": q, "positive_id": doc} for doc, questions in QUESTIONS.items() for q in questions]
    return write_jsonl(tmp_path / "pairs.jsonl", rows), corpus


@pytest.fixture()
def text_pairs(tmp_path: Path) -> Path:
    """pairs.jsonl with the passages as text (no corpus file)."""
    rows = [{"query": q, "positive": PASSAGES[doc]} for doc, questions in QUESTIONS.items() for q in questions]
    return write_jsonl(tmp_path / "text_pairs.jsonl", rows)
