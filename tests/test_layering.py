"""Dependencies point one way, checked on the source with ``ast``.

The core imports neither ``trainers`` nor ``integrations``; those two import the core and not each
other; no product code imports the reference implementation ``sentence_transformers``; vendor
libraries are imported only inside ``integrations/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORS = {
    "qdrant_client",
    "chromadb",
    "langchain_core",
    "langchain_qdrant",
    "langchain_chroma",
    "ray",
    "onnxruntime",
    "fastapi",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "model2vec",  # the [static] extra (integrations.static_distill)
    "haystack",
    "haystack_integrations",
}
BANNED = {
    "sbert_plugins": {"trainers", "integrations", "sentence_transformers"} | VENDORS,
    "trainers": {"integrations", "sentence_transformers"} | VENDORS,
    "integrations": {"trainers", "sentence_transformers"},
}
# The one core module that may import a vendor library: the int8 backend of the optional [onnx]
# extra, imported lazily inside functions, with an install hint when it is missing.
ALLOWED = {"sbert_plugins/onnx_backend.py": {"onnxruntime"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(BANNED))
def test_package_imports_respect_layering(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in imported_modules(path)
        if name.split(".")[0] in BANNED[package]
        and name.split(".")[0] not in ALLOWED.get(path.relative_to(ROOT).as_posix(), set())
    ]
    assert violations == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sentence_transformers\nfrom trainers.losses import X\n", encoding="utf-8")
    assert [name for _, name in imported_modules(bad)] == ["sentence_transformers", "trainers.losses"]
