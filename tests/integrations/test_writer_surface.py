"""Writers other than the ingest loop (Ray) use the ingestors' public surface only."""

from __future__ import annotations

import ast
from pathlib import Path

RAY = Path(__file__).resolve().parents[2] / "integrations" / "ray"


def private_uses(source: str) -> list[str]:
    """``x._name`` attribute reads of another object (not ``self``) and ``from m import _name`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner not in ("self", "cls"):
                found.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("integrations.ray"):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_ray_reaches_into_no_private_member_of_the_ingestors() -> None:
    # Before: ingestor._vector_settings(), _metadata_check(), _open_for_writing(), _QdrantSink, _ChromaSink,
    # _get_collection() and the pipeline's _sink_call.
    problems = {path.name: private_uses(path.read_text()) for path in sorted(RAY.glob("*.py"))}
    assert {name: uses for name, uses in problems.items() if uses} == {}
