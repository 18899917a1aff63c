"""Benchmark inputs from ../shared/data: STSb dev sentences (short) and SciFact abstracts (long)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

# ``../shared/data`` beside the checkout; $SBERT_PLUGINS_DATA points elsewhere (e.g. from a git worktree).
DATA_DIR = Path(os.environ.get("SBERT_PLUGINS_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def stsb_dev_sentences() -> list[str]:
    """The unique sentences of STSb English dev, in file order."""
    with (DATA_DIR / "stsb" / "stsb-en-dev.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return list(dict.fromkeys([r[0] for r in rows] + [r[1] for r in rows]))


def stsb_dev_pairs() -> tuple[list[str], list[str], list[float]]:
    """STSb English dev as (sentences1, sentences2, scores scaled to 0..1)."""
    with (DATA_DIR / "stsb" / "stsb-en-dev.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return [r[0] for r in rows], [r[1] for r in rows], [float(r[2]) / 5 for r in rows]


def scifact_documents() -> list[str]:
    """SciFact corpus documents as ``title + " " + text``, in corpus order."""
    docs: list[str] = []
    for part in sorted((DATA_DIR / "scifact").glob("corpus-part*-of-3.jsonl")):
        with part.open(encoding="utf-8") as handle:
            docs.extend(f"{row['title']} {row['text']}" for row in map(json.loads, handle) if row)
    return docs
