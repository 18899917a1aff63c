"""Every path a model folder names must resolve inside it; pickles never win over safetensors
(issue #19, point 4; on the code before the fix these folders loaded files from elsewhere)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins import CrossEncoder, SentenceEncoder
from sbert_plugins._paths import path_inside
from sbert_plugins.errors import UnsafeModelError


def _point_pooling_at(model: Path, path: str) -> None:
    entries = json.loads((model / "modules.json").read_text())
    entries[1]["path"] = path
    (model / "modules.json").write_text(json.dumps(entries))


@pytest.fixture()
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_module_paths_outside_the_folder_are_refused(model_copy: Path, tmp_path: Path, kind: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(model_copy / "1_Pooling", elsewhere)
    if kind == "absolute":
        _point_pooling_at(model_copy, str(elsewhere))
    elif kind == "dotdot":
        _point_pooling_at(model_copy, "../elsewhere")
    else:
        shutil.rmtree(model_copy / "1_Pooling")
        os.symlink(elsewhere, model_copy / "1_Pooling")
    with pytest.raises(UnsafeModelError, match="model folder may only name paths inside itself"):
        SentenceEncoder(model_copy, device="cpu")


def test_a_cross_encoder_folder_naming_an_outside_transformer_is_refused(model_copy: Path, tmp_path: Path) -> None:
    entries = json.loads((model_copy / "modules.json").read_text())
    entries[0]["path"] = str(tmp_path)
    (model_copy / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(UnsafeModelError, match="outside the model folder|is absolute"):
        CrossEncoder(model_copy, num_labels=1, device="cpu")


def test_paths_inside_the_folder_pass(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    assert path_inside(tmp_path, "1_Pooling") == tmp_path / "1_Pooling"
    assert path_inside(tmp_path, "") == tmp_path
    assert path_inside(tmp_path, "a/../1_Pooling") == tmp_path / "a/../1_Pooling"


def test_allow_pickle_still_prefers_safetensors(model_copy: Path) -> None:
    reference = SentenceEncoder(model_copy, device="cpu").encode(["the dog eats bread"])
    other = SentenceEncoder(model_copy, device="cpu")
    state = {k: v + 1.0 for k, v in other[0].auto_model.state_dict().items()}
    torch.save(state, model_copy / "pytorch_model.bin")  # different weights in a pickle beside the safetensors
    loaded = SentenceEncoder(model_copy, device="cpu", allow_pickle=True).encode(["the dog eats bread"])
    assert np.allclose(loaded, reference, atol=1e-6)
