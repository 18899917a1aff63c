"""Every Python block of the README runs as written, each in a fresh interpreter.

The blocks run in a scratch folder that holds the files they name: ``corpus.jsonl`` (BEIR JSONL),
``path/to/model`` (the packaged all-MiniLM-L6-v2) and two cross-encoder folders, ``path/to/cross-encoder``
and ``my-reranker``. A block passes when it exits 0 and prints no "Exception ignored" (e.g. a client
left open at exit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#+ (.*)$", re.MULTILINE)


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """(id, code) of each fenced ``python`` block; the id names the section and the block's line."""
    blocks = []
    for match in _BLOCK.finditer(text):
        headings = _HEADING.findall(text, 0, match.start())
        line = text.count("\n", 0, match.start()) + 1
        section = re.sub(r"\W+", "-", headings[-1] if headings else "top").strip("-").lower()
        blocks.append((f"{section}-line{line}", match.group(1)))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 8


@pytest.fixture(scope="module")
def snippet_files(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("readme")
    docs = [
        {"_id": "1", "title": "Blood pressure", "text": "Regular exercise lowers blood pressure in adults."},
        {"_id": "2", "title": "Salt", "text": "A diet high in salt raises blood pressure."},
        {"_id": "3", "title": "Sleep", "text": "Adults need seven to nine hours of sleep."},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    shutil.copytree(minilm_dir, root / "path" / "to" / "model")
    build_tiny_classifier(root / "path" / "to" / "cross-encoder")
    build_tiny_classifier(root / "my-reranker", seed=1)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_readme_block_runs(code: str, snippet_files: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    shutil.copytree(snippet_files, workdir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(README.parent)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Exception ignored" not in result.stderr, result.stderr[-3000:]
