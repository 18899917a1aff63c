"""``precision="auto"``: the fastest encoding precision this machine runs without losing quality.

The choice is a table over the device and the CPU's instruction-set flags (``/proc/cpuinfo``), never a
timing taken at run time, so the same machine always picks the same mode. A mode enters the table only
where it was measured to keep quality on all-MiniLM-L6-v2 (STSb dev Spearman within 0.5 points of fp32,
per-row cosine to fp32 >= 0.99 on STSb and SciFact) and to be faster than fp32:

- ``bf16`` on CPUs with AMX-BF16 (matrix tiles) or AVX512-BF16 (bf16 dot products), and on CUDA GPUs
  that support bfloat16;
- ``fp16`` on CUDA GPUs without bfloat16;
- ``fp32`` everywhere else (older CPUs, Apple's MPS, which was not measured).

``int8`` is never chosen: ONNX Runtime's dynamic int8 falls below a cosine of 0.99 to fp32 and, on
CPUs with a bf16 unit, is slower than ``bf16`` (see the README's roofline table).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from sbert_plugins.device import EncoderPrecision

logger = logging.getLogger(__name__)

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
"""CPU flags, any of which makes ``bf16`` the automatic choice on that CPU."""
SPEED_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")
"""The flags that decide which fast paths a CPU has (reported by ``benchmarks/roofline.py``)."""


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name and its instruction-set flags (empty where ``/proc/cpuinfo`` is absent)."""

    model: str
    flags: frozenset[str]


def read_cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """The model name and flags of the first processor listed in ``cpuinfo`` (Linux); on other systems,
    or when the file cannot be read, an empty model name and no flags."""
    model, flags = "", frozenset[str]()
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo(model, flags)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model, flags)


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``precision="auto"`` resolved to, and why (the reason names the device or CPU flag)."""

    precision: EncoderPrecision
    reason: str


def choose_precision(
    device: torch.device,
    *,
    cpu_flags: frozenset[str] | None = None,
    cuda_bf16: bool | None = None,
    runs_transformer: bool = True,
) -> PrecisionChoice:
    """The precision ``"auto"`` stands for on ``device`` (see the module docstring for the table).

    Args:
        device: where the model runs.
        cpu_flags: the CPU's flags; default: read from ``/proc/cpuinfo``.
        cuda_bf16: whether the GPU computes in bfloat16; default: ``torch.cuda.is_bf16_supported()``.
        runs_transformer: False for models whose first module is not a :class:`~sbert_plugins.modules.Transformer`
            (static embeddings, Routers), which stay ``fp32``: static embeddings do no matrix products worth a
            lower precision, and no other kind was measured.
    """
    if not runs_transformer:
        return PrecisionChoice("fp32", "the model does not start with a Transformer: no lower precision was measured")
    if device.type == "cuda":
        if cuda_bf16 is None:
            cuda_bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if cuda_bf16:
            return PrecisionChoice("bf16", "CUDA GPU with bfloat16 support")
        return PrecisionChoice("fp16", "CUDA GPU without bfloat16 support")
    if device.type != "cpu":
        return PrecisionChoice("fp32", f"no lower precision was measured on {device.type!r} devices")
    flags = read_cpu_info().flags if cpu_flags is None else cpu_flags
    found = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if found:
        return PrecisionChoice("bf16", f"the CPU computes in bfloat16 ({', '.join(found)})")
    return PrecisionChoice("fp32", f"the CPU has no bfloat16 unit (none of {', '.join(BF16_CPU_FLAGS)})")
