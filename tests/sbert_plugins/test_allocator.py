"""Keeping freed memory for reuse: big blocks allocated again and again stop faulting in fresh pages."""

from __future__ import annotations

import ctypes
import platform
import resource

import pytest
import torch

from sbert_plugins import allocator


@pytest.fixture()
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.setattr(allocator, "_resident_after_release", None)


def _faults_of_repeated_batches(batches: int = 5, floats: int = 6 * 2**20) -> int:
    """Minor page faults while ``batches`` times three blocks of 24 MiB are written, then freed together
    (as a forward pass holds several activations at once)."""
    for _ in range(2):  # the first batches may grow the heap, faulting in its pages once
        [torch.ones(floats) for _ in range(3)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(batches):
        [torch.ones(floats) for _ in range(3)]
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_opting_out_leaves_malloc_alone(fresh_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.KEEP_FREED_MEMORY_ENV, "0")
    assert allocator.keep_freed_memory() is False
    assert allocator.keep_freed_memory() is False  # decided once
    assert allocator.release_excess_freed_memory(limit=0) is False  # malloc trims by itself then


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="only glibc's malloc is tuned")
def test_freed_blocks_are_reused_without_page_faults(
    fresh_state: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(allocator.KEEP_FREED_MEMORY_ENV, raising=False)
    with caplog.at_level("INFO", logger="sbert_plugins.allocator"):
        assert allocator.keep_freed_memory() is True
        assert allocator.keep_freed_memory() is True
    assert caplog.text.count("keeps freed memory") == 1
    # Without the tuning glibc hands the freed top of the heap back (more than twice its adjusted mmap
    # threshold), so most batches fault their 18,432 pages in again (about 67,000 faults for five, measured);
    # with it, at most one batch of the five (where the heap is laid out anew) faults.
    assert _faults_of_repeated_batches() <= 18_432 + 100


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="only glibc's malloc is tuned")
def test_kept_memory_is_released_past_the_growth_limit(fresh_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(allocator.KEEP_FREED_MEMORY_ENV, raising=False)
    assert allocator.keep_freed_memory() is True
    ctypes.CDLL(None).malloc_trim(0)  # what earlier tests left free would take the blocks below
    assert allocator.release_excess_freed_memory() is False  # the first call only records the resident size
    before = allocator._resident_bytes()
    blocks = [torch.ones(2 * 2**20) for _ in range(48)]  # 8 MiB each: from the heap, under the mmap threshold
    del blocks  # freed, but kept by malloc
    grown = allocator._resident_bytes()
    assert grown - before > 300 * 2**20
    assert allocator.release_excess_freed_memory(limit=grown - before + 2**20) is False  # within the limit
    assert allocator.release_excess_freed_memory(limit=100 * 2**20) is True
    assert allocator._resident_bytes() < grown - 300 * 2**20
    assert allocator.release_excess_freed_memory(limit=100 * 2**20) is False  # measured from the release
