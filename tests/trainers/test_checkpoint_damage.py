"""A truncated checkpoint file is an error that names the checkpoint, and ``resume_from="latest"`` falls back to
the newest intact checkpoint with a warning (issue #19 point 5; before the fix the error named no checkpoint and
"latest" never fell back)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainers.test_trainer import _run
from trainers.checkpoint import (
    CHECKPOINTS_DIR,
    MODEL_FILE,
    STATE_FILE,
    TRAINER_STATE_FILE,
    DamagedCheckpointError,
    checkpoint_name,
    read_checkpoint,
)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damaged", [MODEL_FILE, STATE_FILE, TRAINER_STATE_FILE])
def test_latest_falls_back_past_a_truncated_checkpoint(tiny_model_dir: Path, tmp_path: Path, damaged: str) -> None:
    expected = _run(tiny_model_dir, tmp_path / "full", "one")
    _run(tiny_model_dir, tmp_path / "split", "one", stop_at=7)  # checkpoints after steps 3 and 6
    newest = tmp_path / "split" / CHECKPOINTS_DIR / checkpoint_name(6)
    _truncate(newest / damaged)
    with pytest.raises(DamagedCheckpointError, match=rf"checkpoint .*{checkpoint_name(6)} is damaged: {damaged}"):
        read_checkpoint(newest)
    with pytest.warns(RuntimeWarning, match=rf"{damaged}.*falling back to .*{checkpoint_name(3)}"):
        found = _run(tiny_model_dir, tmp_path / "split", "one", resume=True)
    for key in expected:
        assert torch.equal(expected[key], found[key]), key  # the steps after step 3 were replayed exactly


def test_a_named_damaged_checkpoint_is_an_error_naming_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    from sbert_plugins import SentenceEncoder
    from tests.trainers.conftest import make_pair_rows
    from trainers import Trainer, TrainingConfig, losses

    _run(tiny_model_dir, tmp_path / "out", "one", stop_at=4)
    folder = tmp_path / "out" / CHECKPOINTS_DIR / checkpoint_name(3)
    _truncate(folder / MODEL_FILE)
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    config = TrainingConfig(
        epochs=2,
        batch_size=8,
        learning_rate=1e-3,
        warmup_ratio=0.2,
        save_steps=3,
        logging_steps=2,
        output_dir=str(tmp_path / "out"),
        show_progress=False,
    )
    trainer = Trainer(model, loss=losses.CosineSimilarityLoss(model), train_data=make_pair_rows(40), config=config)
    with pytest.raises(DamagedCheckpointError, match=rf"{checkpoint_name(3)} is damaged: {MODEL_FILE}"):
        trainer.train(resume_from=str(folder))
