"""Child process of the SIGKILL training test: trains the tiny model with checkpoints, announcing each step.

python -m tests.faults.train_child MODEL_DIR OUTPUT_DIR RESUME(0/1)
"""

from __future__ import annotations

import sys

import torch

from sbert_plugins import SentenceEncoder
from tests.trainers.conftest import make_pair_rows
from trainers import Trainer, TrainingConfig, losses

SAVE_STEPS = 4


def train(model_dir: str, output: str, *, resume: bool, announce: bool = False) -> SentenceEncoder:
    """Train a fresh copy of the tiny model for 2 epochs of 80 rows (20 steps, a checkpoint every 4)."""
    model = SentenceEncoder(model_dir, device="cpu")
    torch.manual_seed(0)
    config = TrainingConfig(
        epochs=2,
        batch_size=8,
        learning_rate=1e-3,
        warmup_ratio=0.2,
        save_steps=SAVE_STEPS,
        output_dir=output,
        show_progress=False,
        seed=7,
        num_threads=1,  # bit-equal weights across processes need one reduction order
    )

    def announce_step(state: object) -> bool:
        print(f"step {state.global_step}", flush=True)  # type: ignore[attr-defined]
        return False

    trainer = Trainer(
        model,
        loss=losses.CosineSimilarityLoss(model),
        train_data=make_pair_rows(80),
        config=config,
        callbacks=[announce_step] if announce else [],
    )
    trainer.train(resume_from="latest" if resume else None)
    return model


if __name__ == "__main__":
    train(sys.argv[1], sys.argv[2], resume=sys.argv[3] == "1", announce=True)
    print("done", flush=True)
