"""What the trainer shares with the code around it: the evaluator protocol, the training state and callbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Evaluator(Protocol):
    """What the trainer needs from an evaluator: ``evaluator(model) -> {metric: value}`` and the metric that
    matters most (optionally ``greater_is_better``, default True)."""

    primary_metric: str

    def __call__(self, model: Any) -> dict[str, float]: ...


@dataclass
class TrainerState:
    """Where training stands; saved in every checkpoint and handed to callbacks after each optimizer step."""

    global_step: int = 0
    total_steps: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    """Index, in the epoch's list of batches, of the next batch to train on."""
    best_metric: float | None = None
    best_step: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    evals_without_improvement: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_eval_step: int | None = None
    loss_sum: float = 0.0
    loss_count: int = 0
    should_stop: bool = False


Callback = Callable[[TrainerState], "bool | None"]
