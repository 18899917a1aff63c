"""``finetune --overwrite`` touches only what a finetune run wrote, and keeps the old model until the new one is
complete (issue #19, point 1; on the code before the fix the foreign files were deleted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbert_plugins.errors import ConfigError
from trainers.finetune.state import MANIFEST_FILE, WORK_DIR, RunState


def _write_model(folder: Path, version: str, *, extra: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_text(version)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(version)
    if extra:
        (folder / "2_Dense").mkdir(exist_ok=True)
        (folder / "2_Dense" / "config.json").write_text(version)


def _finished_run(out: Path) -> None:
    state = RunState(out, "old", resume=False, overwrite=False)
    state.publish(lambda folder: _write_model(folder, "old", extra=True))
    state.publish(
        lambda folder: (folder.mkdir(parents=True, exist_ok=True), (folder / "metrics.json").write_text("{}"))
    )
    state.finish()


def test_overwrite_refuses_a_folder_with_files_no_run_wrote(tmp_path: Path) -> None:
    out = tmp_path / "project"
    (out / "src").mkdir(parents=True)
    (out / "metrics.json").write_text('{"mine": 1}')
    (out / "NOTES.md").write_text("notes")
    (out / "src" / "important.py").write_text("print('keep me')")
    with pytest.raises(ConfigError, match=r"holds files no finetune run wrote \(NOTES.md, metrics.json, src/impo"):
        RunState(out, "f", resume=False, overwrite=True)
    assert (out / "metrics.json").read_text() == '{"mine": 1}'
    assert (out / "NOTES.md").read_text() == "notes"
    assert (out / "src" / "important.py").read_text() == "print('keep me')"


def test_a_user_file_beside_a_finished_run_is_refused_not_deleted(tmp_path: Path) -> None:
    out = tmp_path / "model"
    _finished_run(out)
    (out / "NOTES.md").write_text("notes")
    with pytest.raises(ConfigError, match="NOTES.md"):
        RunState(out, "new", resume=False, overwrite=True)
    assert (out / "NOTES.md").is_file() and (out / "model.safetensors").read_text() == "old"


def test_the_old_model_stays_until_the_new_one_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "model"
    _finished_run(out)
    state = RunState(out, "new", resume=False, overwrite=True)
    assert (out / "model.safetensors").read_text() == "old"  # nothing deleted up front

    def crash(folder: Path) -> None:
        _write_model(folder, "new")
        raise RuntimeError("killed while saving")

    with pytest.raises(RuntimeError):
        state.publish(crash)
    assert (out / "model.safetensors").read_text() == "old"
    assert (out / "2_Dense" / "config.json").read_text() == "old"

    state.publish(lambda folder: _write_model(folder, "new"))
    state.finish()
    assert (out / "model.safetensors").read_text() == "new"
    assert (out / "1_Pooling" / "config.json").read_text() == "new"
    assert not (out / "2_Dense").exists()  # the old run's file the new one did not write again
    assert not (out / "metrics.json").exists()
    manifest = json.loads((out / WORK_DIR / MANIFEST_FILE).read_text())["files"]
    assert manifest == ["1_Pooling/config.json", "model.safetensors"]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != WORK_DIR]  # no staging left
