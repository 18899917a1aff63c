"""Hostile model folders through the command line: refused with one clear message (exit 2), nothing executed.

Each folder is a copy of the tiny model with one hostile change; a payload that would run writes a marker
file, and the test checks that the marker never appears.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from sbert_plugins.cli import main


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _escaping_absolute(model: Path, outside: Path) -> None:
    shutil.copytree(model / "1_Pooling", outside / "pooling")
    entries = json.loads((model / "modules.json").read_text())
    entries[1]["path"] = str(outside / "pooling")
    (model / "modules.json").write_text(json.dumps(entries))


def _escaping_dotdot(model: Path, outside: Path) -> None:
    shutil.copytree(model / "1_Pooling", model.parent / "pooling")
    entries = json.loads((model / "modules.json").read_text())
    entries[1]["path"] = "../pooling"
    (model / "modules.json").write_text(json.dumps(entries))


def _symlinked_module(model: Path, outside: Path) -> None:
    shutil.move(model / "1_Pooling", outside / "pooling")
    os.symlink(outside / "pooling", model / "1_Pooling")


def _pickled_weights(model: Path, outside: Path) -> None:
    state = load_file(str(model / "model.safetensors"))
    torch.save({**state, "payload": _Payload(outside / "MARKER")}, model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()


def _auto_map(model: Path, outside: Path) -> None:
    config = json.loads((model / "config.json").read_text())
    config.update(model_type="hostile-net", auto_map={"AutoConfig": "configuration_hostile.HostileConfig"})
    (model / "config.json").write_text(json.dumps(config))
    (model / "configuration_hostile.py").write_text(f"open({str(outside / 'MARKER')!r}, 'w')\n")


def _wrong_dense(model: Path, outside: Path) -> None:
    entries = json.loads((model / "modules.json").read_text())
    entries.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (model / "modules.json").write_text(json.dumps(entries))
    (model / "2_Dense").mkdir()
    config = {"in_features": 32, "out_features": 16, "bias": True}
    (model / "2_Dense" / "config.json").write_text(json.dumps(config))
    save_file(
        {"linear.weight": torch.zeros(8, 32), "linear.bias": torch.zeros(8)},
        str(model / "2_Dense" / "model.safetensors"),
    )


HOSTILE: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "absolute module path": (_escaping_absolute, "is absolute"),
    "'..' module path": (_escaping_dotdot, "outside the model folder"),
    "symlinked module folder": (_symlinked_module, "outside the model folder"),
    "pickled weights": (_pickled_weights, "--allow-pickle"),
    "auto_map custom code": (_auto_map, "--trust-remote-code"),
    "wrong dimensions in 2_Dense": (_wrong_dense, "do not fit config.json"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_folder_is_refused_and_runs_nothing(
    case: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, outside = tmp_path / "model", tmp_path / "outside"
    shutil.copytree(tiny_model_dir, model)
    outside.mkdir()
    make_hostile, message = HOSTILE[case]
    make_hostile(model, outside)
    assert main(["info", "--model", str(model), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1 and "Traceback" not in err
    assert not (outside / "MARKER").exists()


def test_pickled_weights_with_allow_pickle_still_run_nothing(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, outside = tmp_path / "model", tmp_path / "outside"
    shutil.copytree(tiny_model_dir, model)
    outside.mkdir()
    _pickled_weights(model, outside)
    assert main(["info", "--model", str(model), "--device", "cpu", "--allow-pickle"]) == 2
    assert "objects other than tensors" in capsys.readouterr().err  # torch's weights-only loader refused it
    assert not (outside / "MARKER").exists()


def test_a_huge_max_seq_length_is_capped_to_the_positions(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "sentence_bert_config.json").write_text('{"max_seq_length": 1000000000}')
    assert main(["info", "--model", str(model), "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["max_seq_length"] == 128  # the model's position embeddings
