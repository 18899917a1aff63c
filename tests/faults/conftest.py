"""Helpers of the fault suite: child processes killed with SIGKILL at seeded moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = 19


def run_and_kill(argv: list[str], marker: str, delay: float) -> bool:
    """Start ``python -m argv``; when it prints ``marker`` wait ``delay`` seconds and SIGKILL it.

    Returns True when the child was killed, False when it finished first.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == marker:
                time.sleep(delay)
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(timeout=60)
    return child.returncode == -signal.SIGKILL


def moments(count: int, low: int, high: int, seed: int = SEED) -> list[tuple[int, float]]:
    """``count`` seeded (step, extra delay in seconds) pairs: where to kill, not aligned to any boundary."""
    rng = random.Random(seed)
    return [(rng.randrange(low, high), rng.uniform(0.0, 0.2)) for _ in range(count)]
