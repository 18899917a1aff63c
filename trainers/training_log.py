"""The JSONL training log: one object per line (loss and learning rate, evaluation metrics, final metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonlLog:
    """Appends one JSON object per line; on resume, drops the lines written after the checkpoint's step."""

    def __init__(self, path: Path, *, keep_until: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep_until <= 0:
            path.write_text("", encoding="utf-8")
        elif path.is_file():
            kept = [line for line in path.read_text(encoding="utf-8").splitlines() if _step_of(line) <= keep_until]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 0
