from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins.errors import ConfigError
from trainers.checkpoint import (
    capture_rng,
    checkpoint_name,
    list_checkpoints,
    prune_checkpoints,
    resolve_checkpoint,
    restore_rng,
    write_atomically,
)


def test_a_failed_write_leaves_the_previous_folder_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / checkpoint_name(5)
    write_atomically(target, lambda folder: (folder / "a.txt").write_text("first"))

    def broken(folder: Path) -> None:
        (folder / "a.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, broken)
    assert (target / "a.txt").read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]

    write_atomically(target, lambda folder: (folder / "b.txt").write_text("second"))
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def _fake_checkpoint(root: Path, step: int) -> Path:
    folder = root / checkpoint_name(step)
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")
    return folder


def test_prune_keeps_the_newest_and_latest_resolves_to_it(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    for step in (10, 2, 30):
        _fake_checkpoint(root, step)
    (root / ".tmp-step-00000040-1").mkdir()  # an unfinished write is never a checkpoint
    prune_checkpoints(root, 2)
    assert [p.name for p in list_checkpoints(root)] == [checkpoint_name(10), checkpoint_name(30)]
    assert resolve_checkpoint("latest", tmp_path) == root / checkpoint_name(30)
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        resolve_checkpoint("latest", tmp_path / "elsewhere")


def test_rng_states_round_trip_through_torch_save(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    torch.save(capture_rng(), tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected
