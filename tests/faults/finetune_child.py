"""Child process of the SIGKILL finetune test: runs ``finetune`` on the tiny pairs, announcing each training step.

python -m tests.faults.finetune_child PAIRS MODEL_DIR OUTPUT RESUME(0/1)
"""

from __future__ import annotations

import sys
from typing import Any

from trainers.finetune import FinetuneConfig, finetune


def config(model_dir: str, output: str) -> FinetuneConfig:
    """The settings of every run of the test (checkpoints every 2 steps, so kills land between them)."""
    return FinetuneConfig(
        base=model_dir,
        output=output,
        batch_size=4,
        learning_rate=1e-3,
        hard_negatives=1,
        skip_top=1,
        dev_size=6,
        checkpoint_steps=2,
        show_progress=False,
    )


def run(pairs: str, model_dir: str, output: str, *, resume: bool, announce: bool = False) -> dict[str, Any]:
    def step(state: Any) -> bool:
        print(f"step {state.global_step}", flush=True)
        return False

    return finetune(pairs, config(model_dir, output), resume=resume, callbacks=[step] if announce else [])


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], sys.argv[3], resume=sys.argv[4] == "1", announce=True)
    print("done", flush=True)
