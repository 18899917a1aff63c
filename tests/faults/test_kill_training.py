"""Training killed with SIGKILL at seeded random moments (off checkpoint boundaries) and resumed each time ends
with the weights of an uninterrupted run (the steps after the last checkpoint are replayed exactly).

Five kills of the Trainer; one of ``finetune``, whose tiny run has four steps (each child start loads torch, a few
seconds on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tests.faults.conftest import moments, run_and_kill
from tests.faults.train_child import SAVE_STEPS, train
from trainers.checkpoint import CHECKPOINTS_DIR, list_checkpoints

KILLS = 5
STEPS = 20


def test_sigkill_during_training_then_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    expected = train(str(tiny_model_dir), str(tmp_path / "full"), resume=False).state_dict()

    output = tmp_path / "killed"
    # Increasing kill steps, none on a checkpoint boundary: each run resumes and then dies further on.
    steps = sorted({s if s % SAVE_STEPS else s + 1 for s, _ in moments(KILLS, 2, STEPS - 1)})
    delays = [d for _, d in moments(KILLS, 2, STEPS - 1)]
    killed = 0
    for step, delay in zip(steps, delays):
        resume = "1" if list_checkpoints(output / CHECKPOINTS_DIR) else "0"
        killed += run_and_kill(
            ["tests.faults.train_child", str(tiny_model_dir), str(output), resume], f"step {step}", delay
        )
    assert killed >= 1
    found = train(str(tiny_model_dir), str(output), resume=True).state_dict()
    for key, value in expected.items():
        assert torch.equal(value, found[key]), key


def test_sigkill_during_finetune_then_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from tests.faults.finetune_child import run
    from tests.trainers.finetune.conftest import PASSAGES, QUESTIONS, write_jsonl

    rows = [{"query": q, "positive": PASSAGES[doc]} for doc, questions in QUESTIONS.items() for q in questions]
    pairs = str(write_jsonl(tmp_path / "pairs.jsonl", rows))
    expected = run(pairs, str(tiny_model_dir), str(tmp_path / "full"), resume=False)
    output = tmp_path / "killed"
    ((step, delay),) = moments(1, 1, 4, seed=23)
    step = step if step % 2 else step + 1  # off the checkpoint boundary (every 2 steps)
    argv = ["tests.faults.finetune_child", pairs, str(tiny_model_dir), str(output), "0"]
    assert run_and_kill(argv, f"step {step}", delay)
    found = run(pairs, str(tiny_model_dir), str(output), resume=True)
    assert found["fine_tuned"] == expected["fine_tuned"] and found["kept"] == expected["kept"]
    weights = load_file(str(tmp_path / "full" / "model.safetensors"))
    for key, value in load_file(str(output / "model.safetensors")).items():
        assert torch.equal(value, weights[key]), key
