"""``ingest`` of a corpus with a line that is not UTF-8: that line is rejected and counted, the rest ingested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbert_plugins.cli import main
from tests.sbert_plugins.test_readers import BAD_UTF8


def test_ingest_rejects_and_counts_a_non_utf8_line_and_ingests_the_rest(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed before: a UnicodeDecodeError traceback and nothing ingested."""
    pytest.importorskip("qdrant_client")
    rows = [json.dumps({"_id": f"d{i}", "text": f"a dog runs in the park {i}"}).encode() + b"\n" for i in range(4)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"\xef\xbb\xbf" + rows[0] + BAD_UTF8 + b"".join(rows[1:]))
    target = ["--model", str(tiny_model_dir), "--qdrant", str(tmp_path / "q"), "--collection", "docs", "--quiet"]
    assert main(["ingest", str(corpus), *target]) == 0
    out = capsys.readouterr().out
    assert "4 written" in out and "1 rejected" in out and f"{corpus}:2" in out and "not UTF-8 text" in out
