"""The command line maps expected errors to exit 2 with one message that says what to do, and lets unexpected
ones keep their traceback (issue #19 point 3, issue #18 point 13; each case failed on the code before the fix:
a traceback, or a TypeError from a bug reported as bad input)."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import cli
from sbert_plugins.cli import main
from sbert_plugins.streaming import NpyWriter


@pytest.fixture()
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


@pytest.fixture()
def texts(tmp_path: Path) -> Path:
    source = tmp_path / "texts.txt"
    source.write_text("a man plays guitar\nhello world\n", encoding="utf-8")
    return source


def test_an_unexpected_type_error_keeps_its_traceback(
    tiny_model_dir: Path, texts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def buggy(*args: object, **kwargs: object) -> None:
        raise TypeError("a bug, not bad input")

    monkeypatch.setattr(NpyWriter, "write", buggy)
    with pytest.raises(TypeError, match="a bug, not bad input"):
        main(["encode", str(texts), "-o", str(tmp_path / "e.npy"), "--model", str(tiny_model_dir), "--quiet"])


def test_disk_full_during_encode_is_a_clear_error_and_leaves_nothing(
    tiny_model_dir: Path,
    texts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def full(self: NpyWriter, chunk: np.ndarray) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(NpyWriter, "write", full)
    code = main(["encode", str(texts), "-o", str(out_dir / "e.npy"), "--model", str(tiny_model_dir), "--quiet"])
    assert code == 2
    assert "no space left on the device" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []  # neither the output nor a partial file


def test_encode_into_a_missing_folder_or_onto_a_folder(
    tiny_model_dir: Path, texts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(texts), "-o", str(tmp_path / "nowhere" / "e.npy"), "--model", str(tiny_model_dir)]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err
    assert main(["encode", str(texts), "-o", str(tmp_path), "--model", str(tiny_model_dir)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("value", ['"abc"', "12.5", "true", "-3"])
def test_a_non_integer_max_seq_length(model_copy: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    (model_copy / "sentence_bert_config.json").write_text(f'{{"max_seq_length": {value}}}')
    assert main(["info", "--model", str(model_copy)]) == 2
    assert "max_seq_length must be a positive integer" in capsys.readouterr().err


def test_custom_code_without_trust_remote_code_names_the_flag(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = json.loads((model_copy / "config.json").read_text())
    config.update(model_type="evil-net", auto_map={"AutoConfig": "configuration_evil.EvilConfig"})
    (model_copy / "config.json").write_text(json.dumps(config))
    (model_copy / "configuration_evil.py").write_text("raise SystemExit('custom code ran')\n")
    assert main(["info", "--model", str(model_copy)]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err


def test_pickled_weights_name_an_option_the_cli_has(model_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(str(model_copy / "model.safetensors")), model_copy / "pytorch_model.bin")
    (model_copy / "model.safetensors").unlink()
    assert main(["info", "--model", str(model_copy)]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert main(["info", "--model", str(model_copy), "--allow-pickle"]) == 0


def test_the_storage_message_is_only_for_storage_errors() -> None:
    assert cli.storage_error_message(OSError(errno.ENOSPC, "full", "/x")) is not None
    assert cli.storage_error_message(OSError(errno.ENOENT, "missing", "/x")) is None
