"""torch.distributed helpers: who this process is, the process group's life, and a gather that keeps gradients.

A run started with ``torchrun`` has ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous address)
in its environment. The trainer reads them with :func:`world_info`, starts the process group with
:func:`init_from_env` when nobody has yet, wraps the model and its losses in ``DistributedDataParallel``
(:func:`wrap_for_training`), and leaves writing files to rank 0.

In-batch-negative losses call :func:`gather_with_grad` so that every rank scores its own rows against the
documents of the whole global batch; the gradient each rank computes for another rank's rows is sent back
to that rank in the backward pass.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from sbert_plugins.errors import ConfigError

logger = logging.getLogger(__name__)

# How long a collective waits for the slowest rank: rank 0 evaluates and writes checkpoints while the others
# wait at the next collective (NCCL's own default is 10 minutes).
PROCESS_GROUP_TIMEOUT = timedelta(minutes=30)

# Process groups this process has started (every rank starts the same ones, in the same order): each gets its
# own key prefix in the rendezvous store, since a group started after another was destroyed would otherwise
# read the first one's stale addresses there (torch names every new default group alike).
_started = 0


@dataclass(frozen=True)
class WorldInfo:
    """This process's place in the run: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1


def is_initialized() -> bool:
    """Whether a default process group exists."""
    return dist.is_available() and dist.is_initialized()


def world_info() -> WorldInfo:
    """The running process group's rank and size, else the ``torchrun`` environment's, else a single process.

    Raises:
        ConfigError: ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` are set but not integers, or out of range.
    """
    if is_initialized():
        local = _env_int("LOCAL_RANK", dist.get_rank())
        return WorldInfo(dist.get_rank(), dist.get_world_size(), local)
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"RANK={rank} and WORLD_SIZE={world_size} are inconsistent; launch with torchrun")
    return WorldInfo(rank, world_size, local_rank)


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """The number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if is_initialized() else 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r} must be an integer (set by torchrun)") from exc


def training_device(device: torch.device, info: WorldInfo) -> torch.device:
    """The device this rank trains on: on CUDA, GPU ``LOCAL_RANK`` (modulo the visible GPUs); else ``device``."""
    if device.type != "cuda" or not info.distributed:
        return device
    return torch.device("cuda", info.local_rank % max(torch.cuda.device_count(), 1))


def init_from_env(device: torch.device) -> bool:
    """Start the default process group from the ``torchrun`` environment when it asks for several processes.

    The backend is ``nccl`` when ``device`` is a CUDA device and ``gloo`` otherwise. Returns True when this
    call created the group (the caller then destroys it with :func:`destroy`), False when there was nothing to
    do: a single process, or a group that already exists (its creator owns it).

    Raises:
        ConfigError: the environment asks for several processes but lacks the rendezvous address, or
            ``torch.distributed`` is not available in this torch build.
    """
    if is_initialized():
        return False
    info = world_info()
    if not info.distributed:
        return False
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed; install a full torch")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE={info.world_size} but {', '.join(missing)} is not set; start the script with "
            "torchrun (e.g. torchrun --nproc_per_node 2 script.py), which sets the rendezvous variables"
        )
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    global _started
    _started += 1
    store, _, _ = next(dist.rendezvous("env://", info.rank, info.world_size, timeout=PROCESS_GROUP_TIMEOUT))
    store.set_timeout(PROCESS_GROUP_TIMEOUT)
    dist.init_process_group(
        backend=backend,
        store=dist.PrefixStore(f"sbert_plugins_group_{_started}", store),
        rank=info.rank,
        world_size=info.world_size,
        timeout=PROCESS_GROUP_TIMEOUT,
    )
    logger.info("process group started: rank %d of %d, backend %s", info.rank, info.world_size, backend)
    return True


def destroy(created: bool, *, wait: bool = True) -> None:
    """Destroy the default group if ``created`` (the value :func:`init_from_env` gave), after waiting for every
    rank when ``wait`` (not after an error: the other ranks may never arrive)."""
    if created and is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (nothing to wait for when not distributed)."""
    if world_size() > 1:
        dist.barrier()


def broadcast_object(value: Any, *, source: int = 0) -> Any:
    """``value`` as rank ``source`` has it, on every rank (pickled; for small objects such as metrics)."""
    if world_size() == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=source)
    return holder[0]


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank (``[value]`` when not distributed)."""
    if world_size() == 1:
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """The element-wise sum of ``tensor`` over ranks (a new tensor; ``tensor`` itself is kept)."""
    result = tensor.detach().clone()
    if world_size() > 1:
        dist.all_reduce(result, op=dist.ReduceOp.SUM)
    return result


def any_rank(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true on at least one rank (every rank gets the same answer)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def broadcast_module(module: nn.Module, *, source: int = 0) -> None:
    """Copy rank ``source``'s parameters and buffers into ``module`` on every rank."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=source)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 (ranks may hold different row counts); the backward returns each rank's slice
    of the summed gradient, since every rank's loss may depend on every rank's rows."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor, sizes: list[int], own: int) -> Tensor:
        padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        pieces = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(pieces, padded)
        ctx.start, ctx.count = sum(sizes[:own]), sizes[own]
        return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)], dim=0)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor, None, None]:
        total = grad_outputs[0].contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total[ctx.start : ctx.start + ctx.count], None, None


def gather_with_grad(tensor: Tensor) -> tuple[Tensor, int]:
    """Every rank's ``tensor`` concatenated along dim 0 in rank order, and the row where this rank's rows start.

    Ranks may hold different numbers of rows (the last batch of an epoch). Gradients flow back to every
    rank's own rows: in the backward pass the gradients that all ranks computed for the gathered tensor are
    summed and each rank keeps its slice. ``DistributedDataParallel`` then averages the parameter gradients
    over the ``W`` ranks, so a loss that adds its local rows' terms, divides by the global row count and
    multiplies by ``W`` has exactly the gradient of the single-process mean over the global batch.
    Not distributed: ``(tensor, 0)``.
    """
    if world_size() == 1:
        return tensor, 0
    size = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    own = rank()
    gathered: Tensor = _GatherWithGrad.apply(tensor.contiguous(), counts, own)
    return gathered, sum(counts[:own])


class TrainingBundle(nn.Module):
    """The model and the losses as one module, so that ``DistributedDataParallel`` sees each parameter once.

    ``bundle(name, features, labels)`` calls the loss of dataset ``name``; several datasets may share a loss.
    """

    def __init__(self, model: nn.Module, losses: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.model = model
        unique: list[nn.Module] = []
        self._index: dict[str, int] = {}
        for name, loss in losses.items():
            position = next((i for i, known in enumerate(unique) if known is loss), None)
            if position is None:
                unique.append(loss)
                position = len(unique) - 1
            self._index[name] = position
        self.losses = nn.ModuleList(unique)

    def forward(self, name: str, features: Any, labels: Tensor | None) -> Tensor:
        """The loss of dataset ``name`` on one batch."""
        loss: Tensor = self.losses[self._index[name]](features, labels)
        return loss


def wrap_for_training(
    model: nn.Module, losses: Mapping[str, nn.Module], device: torch.device
) -> DistributedDataParallel:
    """The model and losses in one :class:`TrainingBundle` wrapped in ``DistributedDataParallel``.

    DDP copies rank 0's weights to every rank here and averages the gradients over ranks in each backward.
    ``find_unused_parameters`` is on: a transformer's pooler, or the head of a loss whose dataset is not in
    the current batch, receives no gradient.
    """
    bundle = TrainingBundle(model, losses)
    device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return DistributedDataParallel(bundle, device_ids=device_ids, find_unused_parameters=True)
