"""Length-sorted batching: group texts of similar token length so that little padding is computed,
and put the results back in input order afterwards."""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import torch

CPU_PASS_COST_TOKENS = 48
"""What one forward pass costs on a CPU beyond its tokens, counted in padded tokens.

A pass reads every weight of the model however few tokens it carries, so a pass of one short text
costs about as much as this many more tokens in a full pass (measured with all-MiniLM-L6-v2 on one
thread: see the README's "Batching" figures). The cost of the weights and that of a token both grow
with the model's size, so their ratio, this constant, depends on the CPU more than on the model.
"""

BF16_CPU_PASS_COST_TOKENS = 512
""":data:`CPU_PASS_COST_TOKENS` for bfloat16 weights: the CPU's bf16 units (AMX, AVX512-BF16) make a token
several times cheaper, while a pass's fixed cost (its many small kernels, and products too thin to fill
the units) stays, so the same pass is worth many more tokens. Chosen by measurement (the README's
"Batching" figures)."""


def pass_cost_tokens(device_type: str, dtype: torch.dtype = torch.float32) -> int | None:
    """The fixed cost of one forward pass on ``device_type`` (``"cpu"``, ``"cuda"``, ...) with weights of
    ``dtype`` in padded tokens, for :func:`batches`: on a CPU :data:`BF16_CPU_PASS_COST_TOKENS` for
    bfloat16, :data:`CPU_PASS_COST_TOKENS` otherwise; ``None`` on accelerators, where batches are filled
    up to their bounds (a pass there costs little more for more tokens)."""
    if device_type != "cpu":
        return None
    return BF16_CPU_PASS_COST_TOKENS if dtype == torch.bfloat16 else CPU_PASS_COST_TOKENS


def length_sorted_order(lengths: Sequence[int]) -> np.ndarray:
    """Indices that sort ``lengths`` longest first (stable, so equal lengths keep input order).

    Longest first makes the first batch the biggest one, so running out of memory happens at once.
    """
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def batches(
    order: np.ndarray,
    lengths: Sequence[int],
    *,
    batch_size: int,
    max_tokens: int | None = None,
    pass_cost: int | None = None,
) -> Iterator[np.ndarray]:
    """Split ``order`` (indices, longest first) into batches, in order.

    A batch holds at most ``batch_size`` texts and, when ``max_tokens`` is set, at most ``max_tokens``
    padded tokens (texts x longest length), so short texts go in big batches and long ones in small.

    Args:
        pass_cost: the fixed cost of one forward pass in padded tokens (see :func:`pass_cost_tokens`).
            When given, batches are also cut where the texts get shorter, wherever a pass more costs
            less than the padding it saves: the cuts minimise padded tokens + ``pass_cost`` per pass,
            and never cost more than filling every batch.
            ``None``: every batch is filled up to its bounds.
    """
    if pass_cost is None:
        yield from _filled(order, lengths, 0, len(order), batch_size, max_tokens)
        return
    bounds = _cheapest_cuts([int(lengths[i]) for i in order], batch_size, max_tokens, pass_cost)
    for start, stop in itertools.pairwise(bounds):
        yield order[start:stop]


def _capacity(longest: int, batch_size: int, max_tokens: int | None) -> int:
    """How many texts a batch whose longest text has ``longest`` tokens may hold."""
    if max_tokens is None:
        return batch_size
    return min(batch_size, max(1, max_tokens // max(longest, 1)))


def _filled(
    order: np.ndarray, lengths: Sequence[int], start: int, stop: int, batch_size: int, max_tokens: int | None
) -> Iterator[np.ndarray]:
    """``order[start:stop]`` in batches filled up to their bounds."""
    while start < stop:
        end = min(stop, start + _capacity(int(lengths[order[start]]), batch_size, max_tokens))
        yield order[start:end]
        start = end


def _cheapest_cuts(sorted_lengths: list[int], batch_size: int, max_tokens: int | None, pass_cost: int) -> list[int]:
    """Cut points (0 first, ``len(sorted_lengths)`` last), one batch between two of them, that minimise
    padded tokens + ``pass_cost`` per batch, each batch padded to its first (longest) text.

    A batch ends where the length changes or where it is full: ending it inside a run of equal lengths
    and not full only pads texts that could have waited for the next batch at the same length. Shortest
    paths over those points, in increasing order (every step goes forward), so the result never costs
    more than filling every batch to its bounds (one of the paths).
    """
    total = len(sorted_lengths)
    runs = [0, *(i for i in range(1, total) if sorted_lengths[i] != sorted_lengths[i - 1]), total]
    best, came_from = {0: 0}, {0: 0}
    pending = [0]
    while pending:
        start = heapq.heappop(pending)
        if start == total:
            break
        longest = max(sorted_lengths[start], 1)
        full = min(total, start + _capacity(longest, batch_size, max_tokens))
        ends = runs[bisect.bisect_right(runs, start) : bisect.bisect_right(runs, full)]
        for end in ends if ends and ends[-1] == full else [*ends, full]:
            cost = best[start] + pass_cost + (end - start) * longest
            if end not in best:
                heapq.heappush(pending, end)
            elif cost >= best[end]:
                continue
            best[end], came_from[end] = cost, start
    cuts = [total]
    while cuts[-1] != 0:
        cuts.append(came_from[cuts[-1]])
    return cuts[::-1]


def restore_order(order: np.ndarray) -> np.ndarray:
    """The inverse permutation of ``order``: ``sorted_results[restore_order(order)]`` is in input order."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse
