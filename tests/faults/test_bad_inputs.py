"""The shipped bad-input corpus (tests/faults/bad_inputs/, plus a 5 MB line, a directory and a FIFO made here) run
through ``ingest``, ``encode``, ``train``, ``finetune`` and ``evaluate``: each ends with exit 0 and every row
accounted for (written, or rejected by file:line), or exit 2 and one message; never a traceback.

Undecodable bytes, deeply nested JSON and a 5 MB CSV field are read by the readers that the one reader module
of issue #18 replaces; until it lands those cases are expected failures (not strict).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sbert_plugins.cli import main

BAD = Path(__file__).parent / "bad_inputs"
COMMANDS = ("ingest", "encode", "train", "finetune", "evaluate")
# input -> the line at fault (None: the file is bad as a whole, or has no bad line)
INPUTS: dict[str, int | None] = {
    "not_utf8.jsonl": 2,
    "binary.jsonl": None,
    "bom.jsonl": 1,
    "nul_bytes.jsonl": 2,
    "wrong_types.jsonl": 2,
    "duplicate_ids.jsonl": 2,
    "empty.jsonl": None,
    "nested_metadata.jsonl": 2,
    "long_line.jsonl": None,
    "a_directory": None,
    "a_fifo.jsonl": None,
}


def _input(name: str, tmp_path: Path) -> Path:
    if name == "long_line.jsonl":
        row = {"_id": "long", "text": "the dog eats bread " * 270_000, "query": "q", "positive": "p"}
        path = tmp_path / name
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")  # about 5 MB on one line
        return path
    if name == "a_directory":
        (tmp_path / name).mkdir()
        return tmp_path / name
    if name == "a_fifo.jsonl":
        os.mkfifo(tmp_path / name)  # opening it for reading would block: it must be refused unopened
        return tmp_path / name
    return BAD / name


def _argv(command: str, source: Path, model: Path, out: Path) -> list[str]:
    common = ["--model", str(model), "--device", "cpu"]
    return {
        "ingest": ["ingest", str(source), *common, "--qdrant", str(out / "q"), "--collection", "c"],
        "encode": ["encode", str(source), "-o", str(out / "e.npy"), *common, "--quiet"],
        "train": [
            "train",
            "--train",
            str(source),
            "--loss",
            "CosineSimilarityLoss",
            "--output",
            str(out / "t"),
            *common,
        ],
        "finetune": ["finetune", "--pairs", str(source), "--output", str(out / "f"), "--base", str(model)],
        "evaluate": ["evaluate", "--sts", str(source), *common],
    }[command]


@pytest.mark.parametrize(
    ("name", "command"),
    [
        pytest.param(n, c, id=f"{n}-{c}")
        for n in INPUTS
        for c in COMMANDS
        if not (n == "long_line.jsonl" and c in ("train", "finetune"))  # minutes of training on 5 MB: see encode
    ],
)
def test_bad_input_ends_cleanly(
    name: str, command: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if command == "ingest":
        pytest.importorskip("qdrant_client")
    source = _input(name, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code = main(_argv(command, source, tiny_model_dir, out))  # an exception here is the traceback a user would see
    stdout, stderr = capsys.readouterr()
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stderr
    if code == 2:
        assert stderr.count("error:") == 1, stderr
        return
    rows = sum(1 for line in source.read_bytes().splitlines() if line.strip()) if source.is_file() else 0
    bad_line = INPUTS[name]
    output = stdout + stderr
    named = bad_line is not None and f"{source.name}:{bad_line}" in output
    complete = f"wrote {rows} " in output or f": {rows} written" in output
    assert named or complete, output  # no silent drop
