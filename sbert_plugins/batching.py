"""Length-sorted batching: group texts of similar token length so that little padding is computed,
and put the results back in input order afterwards."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

CPU_PASS_COST_TOKENS = 48
"""What one forward pass costs on a CPU beyond its tokens, counted in padded tokens.

A pass reads every weight of the model however few tokens it carries, so a pass of one short text
costs about as much as this many more tokens in a full pass (measured with all-MiniLM-L6-v2 on one
thread: see the README's "Batching" figures). The cost of the weights and that of a token both grow
with the model's size, so their ratio, this constant, depends on the CPU more than on the model.
"""


def pass_cost_tokens(device_type: str) -> int | None:
    """The fixed cost of one forward pass on ``device_type`` (``"cpu"``, ``"cuda"``, ...) in padded tokens,
    for :func:`batches`: :data:`CPU_PASS_COST_TOKENS` on a CPU; ``None`` on accelerators, where batches
    are filled up to their bounds (a pass there costs little more for more tokens)."""
    return CPU_PASS_COST_TOKENS if device_type == "cpu" else None


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
            less than the padding it saves: the cuts minimise padded tokens + ``pass_cost`` per pass.
            ``None``: every batch is filled up to its bounds.
    """
    if pass_cost is None:
        yield from _filled(order, lengths, 0, len(order), batch_size, max_tokens)
        return
    bounds = _cheapest_cuts([int(lengths[i]) for i in order], batch_size, max_tokens, pass_cost)
    for start, stop in itertools.pairwise(bounds):
        yield from _filled(order, lengths, start, stop, batch_size, max_tokens)


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
    """Cut points (0 first, ``len(sorted_lengths)`` last) into ranges, each filled into batches afterwards,
    that minimise padded tokens + ``pass_cost`` per batch.

    Cuts only fall where the length changes: moving a cut into a run of equal lengths pads the texts that
    change sides more, or as much. A range is costed as padded to its first (longest) text throughout.
    Dynamic programming from the end over the runs; a range is not extended past one full batch (its
    further texts would only be padded to the same longest length), which bounds the work by the number
    of runs times the runs that fit one batch.
    """
    total = len(sorted_lengths)
    runs = [0, *(i for i in range(1, total) if sorted_lengths[i] != sorted_lengths[i - 1]), total]
    count_runs = len(runs) - 1
    best = [0] * (count_runs + 1)  # best[g]: the cheapest cost of the texts from run g on
    cut_after = [count_runs] * (count_runs + 1)
    for g in range(count_runs - 1, -1, -1):
        longest = sorted_lengths[runs[g]]
        capacity = _capacity(longest, batch_size, max_tokens)
        cheapest = None
        for h in range(g + 1, count_runs + 1):
            texts = runs[h] - runs[g]
            passes = -(-texts // capacity)
            cost = passes * pass_cost + texts * max(longest, 1) + best[h]
            if cheapest is None or cost < cheapest:
                cheapest, cut_after[g] = cost, h
            if texts >= capacity:
                break
        best[g] = cheapest if cheapest is not None else 0
    cuts, g = [0], 0
    while g < count_runs:
        g = cut_after[g]
        cuts.append(runs[g])
    return cuts


def restore_order(order: np.ndarray) -> np.ndarray:
    """The inverse permutation of ``order``: ``sorted_results[restore_order(order)]`` is in input order."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse
