"""Device and precision choices shared by the encoders."""

from __future__ import annotations

from typing import Literal, get_args

import torch

from sbert_plugins.errors import ConfigError

Precision = Literal["fp32", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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
