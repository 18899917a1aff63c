"""AdamW with decoupled weight decay on the right parameters, and the warmup learning-rate schedules."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import torch
from torch import nn

from trainers.config import SchedulerName, TrainingConfig

logger = logging.getLogger(__name__)


def trainable_parameters(modules: Iterable[nn.Module]) -> list[tuple[str, nn.Parameter]]:
    """Named trainable parameters of ``modules`` (the model first, then each loss), each parameter once.

    A loss usually holds the model; its own parameters (a classifier head, say) come after the model's.
    """
    seen: set[int] = set()
    result: list[tuple[str, nn.Parameter]] = []
    for index, module in enumerate(modules):
        for name, parameter in module.named_parameters():
            if parameter.requires_grad and id(parameter) not in seen:
                seen.add(id(parameter))
                result.append((f"{index}.{name}", parameter))
    return result


def _no_decay(name: str, parameter: nn.Parameter) -> bool:
    # Biases and normalisation weights (the 1-D tensors) are not decayed, as in BERT's original recipe.
    return parameter.ndim < 2 or name.endswith(".bias")


def build_optimizer(named: list[tuple[str, nn.Parameter]], config: TrainingConfig) -> torch.optim.AdamW:
    """AdamW over ``named`` with ``config.weight_decay`` on weight matrices only.

    The fused implementation (one kernel for all parameters) is used where torch supports it for these
    tensors; on CPU it avoids a Python loop over ~100 tensors every step.
    """
    decay = [p for n, p in named if not _no_decay(n, p)]
    no_decay = [p for n, p in named if _no_decay(n, p)]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    settings = {
        "lr": config.learning_rate,
        "betas": (config.adam_beta1, config.adam_beta2),
        "eps": config.adam_epsilon,
    }
    if _fused_supported([p for _, p in named]):
        try:
            return torch.optim.AdamW(groups, fused=True, **settings)  # type: ignore[arg-type]
        except (RuntimeError, ValueError) as exc:  # an older build without fused kernels for this device
            logger.debug("fused AdamW unavailable (%s); using the foreach implementation", exc)
    return torch.optim.AdamW(groups, foreach=True, **settings)  # type: ignore[arg-type]


def _fused_supported(parameters: list[nn.Parameter]) -> bool:
    if not parameters:
        return False
    devices = {p.device.type for p in parameters}
    return len(devices) == 1 and devices <= {"cpu", "cuda"} and all(p.is_floating_point() for p in parameters)


class WarmupSchedule:
    """Learning-rate factor at a step: linear warmup from 0 to 1, then linear or cosine decay to 0, or constant.

    A class rather than a closure so that the scheduler's ``state_dict`` records its settings.
    """

    def __init__(self, kind: SchedulerName, warmup_steps: int, total_steps: int) -> None:
        self.kind = kind
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / max(1, self.warmup_steps)
        if self.kind == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        if self.kind == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def warmup_steps(config: TrainingConfig, total_steps: int) -> int:
    """``config.warmup_steps`` if given, else ``ceil(warmup_ratio * total_steps)``."""
    if config.warmup_steps is not None:
        return config.warmup_steps
    return math.ceil(config.warmup_ratio * total_steps)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The warmup schedule of ``config`` over ``total_steps`` optimizer steps."""
    schedule = WarmupSchedule(config.scheduler, warmup_steps(config, total_steps), total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
