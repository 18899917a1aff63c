"""Disk full (a small tmpfs mounted by the test) during ``encode -o``, ``model.save``, checkpointing and ingest:
a clear error, nothing half-written under a final name, and the run completes once space is back.

Skipped with the reason where mounting is not allowed (it needs root, or CAP_SYS_ADMIN).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from tests.integrations.corpus import make_docs, make_text


class SmallDisk:
    """A tmpfs at ``path``; :meth:`fill` leaves about ``free`` bytes, :meth:`free_up` removes the filler."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self, free: int) -> None:
        descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(descriptor, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(descriptor)
        os.truncate(self.filler, max(0, self.filler.stat().st_size - free))

    def free_up(self) -> None:
        self.filler.unlink(missing_ok=True)

    def names(self) -> set[str]:
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*")} - {"filler"}


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    path = tmp_path / "disk"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(mounted.stderr or mounted.stdout).strip()})")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_encode_on_a_full_disk(
    small_disk: SmallDisk, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("".join(make_text(i) + "\n" for i in range(600)), encoding="utf-8")
    output = small_disk.path / "emb.npy"
    argv = ["encode", str(source), "-o", str(output), "--model", str(tiny_model_dir), "--device", "cpu"]
    small_disk.fill(free=20_000)  # 600 x 32 float32 rows need 76,928 bytes
    assert main([*argv, "--quiet", "--chunk-size", "100"]) == 2
    assert "no space left on the device" in capsys.readouterr().err
    assert small_disk.names() == set()  # neither emb.npy nor a partial file
    small_disk.free_up()
    assert main([*argv, "--quiet", "--chunk-size", "100"]) == 0
    assert np.load(output).shape == (600, 32)


def test_model_save_on_a_full_disk_keeps_the_old_model(small_disk: SmallDisk, tiny_model_dir: Path) -> None:
    out = small_disk.path / "model"
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    model.save(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for parameter in model.parameters():
        parameter.data.add_(0.25)
    small_disk.fill(free=40_000)  # less than the weights file
    with pytest.raises(OSError) as failed:
        model.save(out)
    assert failed.value.errno == errno.ENOSPC
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # each file old and whole
    assert small_disk.names() == {"model", *(p.relative_to(small_disk.path).as_posix() for p in before)} | {
        p.relative_to(small_disk.path).as_posix() for p in out.rglob("*") if p.is_dir()
    }
    small_disk.free_up()
    model.save(out)
    probe = ["the dog eats bread"]
    assert np.allclose(SentenceEncoder(out, device="cpu").encode(probe), model.encode(probe), atol=1e-6)


def test_checkpointing_on_a_full_disk_then_resume(small_disk: SmallDisk, tiny_model_dir: Path, tmp_path: Path) -> None:
    from tests.faults.train_child import train
    from trainers.checkpoint import CHECKPOINTS_DIR, list_checkpoints, read_checkpoint

    out = small_disk.path / "run"
    expected = train(str(tiny_model_dir), str(tmp_path / "reference"), resume=False).state_dict()
    small_disk.fill(free=700_000)  # room for the first checkpoints, not for all of them
    with pytest.raises(OSError) as failed:
        train(str(tiny_model_dir), str(out), resume=False)
    assert failed.value.errno == errno.ENOSPC
    kept = list_checkpoints(out / CHECKPOINTS_DIR)
    assert kept, "the disk filled before the first checkpoint; give the test more room"
    for folder in kept:
        read_checkpoint(folder)  # every checkpoint under a real name is complete
    assert not [p for p in (out / CHECKPOINTS_DIR).iterdir() if p.name.startswith(".")]  # no temporary left
    small_disk.free_up()
    found = train(str(tiny_model_dir), str(out), resume=True).state_dict()
    for key, value in expected.items():
        assert np.array_equal(value.numpy(), found[key].numpy()), key


def test_ingest_on_a_full_disk_then_resume(
    small_disk: SmallDisk, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client")
    corpus = tmp_path / "corpus.jsonl"
    docs = make_docs(300)
    corpus.write_text("".join(json.dumps({"_id": d["id"], "text": d["text"]}) + "\n" for d in docs), encoding="utf-8")
    argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--device", "cpu"]
    argv += ["--qdrant", str(small_disk.path / "q"), "--collection", "docs"]
    small_disk.fill(free=30_000)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and ("no space left" in err.lower() or "disk is full" in err.lower()), err
    small_disk.free_up()
    assert main(argv) == 0
    assert "300" in capsys.readouterr().out
    from integrations.qdrant import QdrantIngestor

    with QdrantIngestor(SentenceEncoder(tiny_model_dir, device="cpu"), "docs", path=small_disk.path / "q") as check:
        assert check.count() == 300
