"""Keep freed memory in the process for the next batch instead of handing it back to the OS.

Every encode batch allocates activations of tens of megabytes (a full batch's feed-forward activation
is its token budget times the intermediate size). glibc's malloc returns such blocks to the kernel when
they are freed together, so the next batch touches fresh pages and pays a page fault per 4 KiB, charged
to whichever element-wise operation writes first (the bias copy of a linear layer, GELU, the residual
adds); on long texts in bf16 that was a large share of the CPU time (the README's roofline row). Raising malloc's mmap
threshold to its maximum and never trimming the heap keeps those blocks for reuse, as jemalloc or
tcmalloc would. The price: the process keeps what it freed. Batches of ever new shapes (other text
lengths, other batch sizes) fragment that memory, so it would keep growing with every new shape: after
each CPU encode call, :func:`release_excess_freed_memory` hands the freed memory back once the process has
grown by more than :data:`RETAINED_GROWTH_LIMIT` since it last did, which bounds the resident size at the
cost of one batch's page faults now and then.

This changes the allocator of the whole process, so it is done once, on the first CPU encode, and can
be turned off with ``SBERT_PLUGINS_KEEP_FREED_MEMORY=0``. Only glibc (Linux) is tuned; elsewhere it is a
no-op.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

logger = logging.getLogger(__name__)

KEEP_FREED_MEMORY_ENV = "SBERT_PLUGINS_KEEP_FREED_MEMORY"
"""Environment variable: ``0`` leaves the process's malloc settings alone."""
# glibc's mallopt parameters (malloc.h) and the highest mmap threshold it accepts on 64-bit systems.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2**20
_TRIM_THRESHOLD = 2**31 - 1  # the largest value mallopt takes: the top of the heap is practically never given back

RETAINED_GROWTH_LIMIT = 512 * 2**20
"""Bytes the resident size may grow past its size after the last release before freed memory is released."""

_lock = threading.Lock()
_state: dict[str, bool] = {}
_resident_after_release: int | None = None  # the resident size right after the last release (or first check)


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as the module docstring says, once per process.

    Returns:
        True when the settings are in place (now or from an earlier call); False when they were not
        applied: ``$SBERT_PLUGINS_KEEP_FREED_MEMORY`` is ``0``, or the C library is not glibc.
    """
    with _lock:
        if "applied" not in _state:
            _state["applied"] = _apply()
        return _state["applied"]


def _apply() -> bool:
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "").strip() == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # The trim threshold first: setting either one fixes the other (no more automatic adjustment).
    applied = bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and applied
    if applied:
        logger.info(
            "malloc keeps freed memory for reuse (mmap threshold %d MiB, no heap trimming); "
            "set %s=0 to leave malloc alone",
            _MMAP_THRESHOLD_MAX // 2**20,
            KEEP_FREED_MEMORY_ENV,
        )
    return applied


def release_excess_freed_memory(limit: int = RETAINED_GROWTH_LIMIT) -> bool:
    """Hand the memory malloc keeps back to the OS (``malloc_trim``) when the process has grown by more than
    ``limit`` bytes since the last release (or since the first call), as the module docstring says.

    Returns:
        True when memory was released; False otherwise, and always when :func:`keep_freed_memory` is not
        in effect (malloc then trims by itself).
    """
    if not _state.get("applied"):
        return False
    global _resident_after_release
    resident = _resident_bytes()
    with _lock:
        if _resident_after_release is None:
            _resident_after_release = resident
            return False
        if resident - _resident_after_release <= limit:
            return False
        ctypes.CDLL(None).malloc_trim(0)
        _resident_after_release = _resident_bytes()
    logger.debug(
        "released freed memory: %d MiB resident before, %d MiB after", resident >> 20, _resident_after_release >> 20
    )
    return True


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
