"""Device, precision and CPU-thread choices shared by the encoders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

import torch

from sbert_plugins.errors import ConfigError

Precision = Literal["fp32", "fp16", "bf16"]
"""Floating-point precisions: the dtype of the weights and activations."""
PRECISIONS: tuple[str, ...] = get_args(Precision)
EncoderPrecision = Literal["fp32", "fp16", "bf16", "int8"]
"""What :class:`~sbert_plugins.SentenceEncoder` accepts: a float precision, or ``int8`` (CPU inference)."""
ENCODER_PRECISIONS: tuple[str, ...] = get_args(EncoderPrecision)
PrecisionSetting = Literal["fp32", "fp16", "bf16", "int8", "auto"]
"""What the encoders' ``precision=`` argument takes: an :data:`EncoderPrecision`, or ``auto`` (the fastest one
that keeps quality on this machine, see :mod:`sbert_plugins.precision_choice`)."""
PRECISION_SETTINGS: tuple[str, ...] = get_args(PrecisionSetting)
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

NUM_THREADS_ENV = "SBERT_PLUGINS_NUM_THREADS"
"""Environment variable: intra-op CPU threads used while encoding, when no ``num_threads`` is given."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` picks cuda, then mps, then cpu; anything else is checked and returned."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"invalid device {device!r}: use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, but CUDA is not available here; use 'cpu' or 'auto'")
    return resolved


def precision_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a precision name (``fp32``, ``fp16``, ``bf16``)."""
    if precision not in _DTYPES:
        raise ConfigError(f"precision {precision!r} is not supported; use one of {PRECISIONS}")
    return _DTYPES[precision]


def check_encoder_precision(precision: object) -> PrecisionSetting:
    """Return ``precision`` if it is one of :data:`PRECISION_SETTINGS`, else raise :class:`ConfigError`."""
    if precision not in PRECISION_SETTINGS:
        raise ConfigError(f"precision {precision!r} is not supported; use one of {PRECISION_SETTINGS}")
    return precision  # type: ignore[return-value]


def available_cpus() -> int:
    """CPUs this process may run on: its CPU affinity, lowered to a cgroup CPU quota when one is set."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(count, quota) if quota else count)


def _cgroup_cpu_quota() -> int | None:
    """The CPU limit of a cgroup v2 container (``cpu.max``), rounded up; ``None`` when unlimited."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        return None
    if len(text) != 2 or text[0] == "max":
        return None
    try:
        return max(1, -(-int(text[0]) // int(text[1])))
    except (ValueError, ZeroDivisionError):
        return None


def resolve_num_threads(num_threads: int | None) -> int | None:
    """Intra-op threads to encode with: ``num_threads`` if given, else ``$SBERT_PLUGINS_NUM_THREADS``, else
    ``None`` (keep torch's setting) unless torch would use more threads than :func:`available_cpus`,
    in which case that count (more threads than CPUs only makes them wait on each other).

    Raises:
        ConfigError: ``num_threads`` or the environment variable is not a positive integer.
    """
    if num_threads is None:
        env = os.environ.get(NUM_THREADS_ENV, "").strip()
        if env:
            if not env.isdigit() or int(env) <= 0:
                raise ConfigError(f"${NUM_THREADS_ENV} must be a positive integer, found {env!r}")
            return int(env)
        cpus = available_cpus()
        return cpus if torch.get_num_threads() > cpus else None
    if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads <= 0:
        raise ConfigError(f"num_threads must be a positive integer, found {num_threads!r}")
    return num_threads


@contextmanager
def intra_op_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)`` and restore the previous count after.

    ``None`` changes nothing. The count is process-wide while the block runs: two threads encoding
    at once with different counts see whichever was set last.
    """
    previous = torch.get_num_threads()
    if num_threads is None or num_threads == previous:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
