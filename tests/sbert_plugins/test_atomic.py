"""Durable, atomic saves: a failed save leaves the previous files whole, and temporary names are unique
(issue #19 points 5 and 6; before the fix ``model.save`` wrote in place and ``encode`` used one ``.partial`` name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins._atomic import save_folder_atomically, staged_file, temporary_name


def test_a_save_that_fails_leaves_the_previous_model_whole(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model"
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    model.save(out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for parameter in model.parameters():
        parameter.data.add_(1.0)
    from sbert_plugins import loading

    def dies_half_way(modules: list, folder: Path) -> None:
        modules[0].save(folder)  # the big weights file is written...
        raise OSError(28, "No space left on device")  # ...then the disk fills up

    monkeypatch.setattr("sbert_plugins.encoder.save_modules", dies_half_way)
    assert loading.save_modules is not dies_half_way
    with pytest.raises(OSError):
        model.save(out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left behind


def test_save_replaces_files_and_keeps_unrelated_ones(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "a.json").write_text("old")
    written = save_folder_atomically(
        target, lambda f: ((f / "a.json").write_text("new"), (f / "sub").mkdir(), (f / "sub" / "b").write_text("b"))
    )
    assert written == ["a.json", "sub/b"]
    assert (target / "a.json").read_text() == "new" and (target / "notes.txt").read_text() == "mine"


def test_temporary_names_are_unique_and_a_failed_stage_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "emb.npy"
    assert temporary_name(target) != temporary_name(target)
    with pytest.raises(RuntimeError), staged_file(target) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with staged_file(target) as partial:
        np.save(partial.open("wb"), np.zeros(3))
    assert np.load(target).shape == (3,)
