"""The module registry: what loads, and the error for what does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules.registry import supported_classes


def _with_type(tiny_model_dir: Path, tmp_path: Path, index: int, module_type: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[index]["type"] = module_type
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder


@pytest.mark.parametrize(
    ("module_type", "reason"),
    [
        ("sentence_transformers.sentence_transformer.modules.clip_model.CLIPModel", "image and multimodal"),
        ("sentence_transformers.models.Mystery", "not a sentence-transformers text module"),
        ("my_package.layers.Pooling", "never a class from another package"),
    ],
)
def test_unsupported_class_is_named_with_what_loads(
    tiny_model_dir: Path, tmp_path: Path, module_type: str, reason: str
) -> None:
    folder = _with_type(tiny_model_dir, tmp_path, 1, module_type)
    with pytest.raises(ConfigError) as caught:
        SentenceEncoder(folder, device="cpu")
    message = str(caught.value)
    assert f"entry 1 has unsupported module type {module_type!r}" in message
    assert reason in message
    assert "Supported module classes: " + ", ".join(supported_classes()) in message


def test_supported_classes_cover_the_text_modules() -> None:
    assert {"Transformer", "Pooling", "Dense", "Normalize", "StaticEmbedding", "Router"} <= set(supported_classes())
    assert {"MLMTransformer", "SpladePooling", "SparseStaticEmbedding", "SparseAutoEncoder"} <= set(supported_classes())


def test_first_module_must_tokenize(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(modules[1:]))
    with pytest.raises(ConfigError, match="the first module must tokenize texts"):
        SentenceEncoder(folder, device="cpu")
