"""Read and write the JSON config files of a model folder, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sbert_plugins._atomic import write_bytes_atomically
from sbert_plugins.errors import ConfigError


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``; a malformed file raises :class:`ConfigError` naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (flushed, renamed into place), creating the folder."""
    write_bytes_atomically(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
