"""Training rows and finetune pairs are read by sbert_plugins.readers: undecodable lines named, a BOM handled."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbert_plugins.errors import DataError
from tests.sbert_plugins.test_readers import BAD_UTF8


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_training_and_finetune_readers_name_the_line(tmp_path: Path) -> None:
    """Failed before: UnicodeDecodeError from trainers.data and trainers.finetune; a BOM broke the CSV header."""
    from trainers.data import load_dataset
    from trainers.finetune import read_pairs

    rows = _write(tmp_path / "train.jsonl", b'{"anchor": "a", "positive": "b"}\n' + BAD_UTF8)
    with pytest.raises(DataError, match=r"train.jsonl:2: not UTF-8 text"):
        load_dataset(rows)
    csv_file = _write(tmp_path / "train.csv", b"\xef\xbb\xbfsentence1,sentence2,label\na,b,0.5\nc,d,0.1\n")
    assert load_dataset(csv_file).columns == ("sentence1", "sentence2")  # and the label
    pairs = _write(tmp_path / "pairs.jsonl", b'{"query": "q", "positive": "p"}\n' + BAD_UTF8)
    with pytest.raises(DataError, match=r"pairs.jsonl:2: not UTF-8 text"):
        read_pairs(pairs)
