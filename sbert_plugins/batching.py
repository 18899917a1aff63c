"""Length-sorted batching: group texts of similar token length so that little padding is computed,
and put the results back in input order afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def length_sorted_order(lengths: Sequence[int]) -> np.ndarray:
    """Indices that sort ``lengths`` longest first (stable, so equal lengths keep input order).

    Longest first makes the first batch the biggest one, so running out of memory happens at once.
    """
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def batches(
    order: np.ndarray, lengths: Sequence[int], *, batch_size: int, max_tokens: int | None = None
) -> Iterator[np.ndarray]:
    """Split ``order`` (indices, longest first) into batches.

    A batch holds at most ``batch_size`` texts and, when ``max_tokens`` is set, at most ``max_tokens``
    padded tokens (texts x longest length), so short texts go in big batches and long ones in small.
    """
    start = 0
    total = len(order)
    while start < total:
        stop = min(start + batch_size, total)
        if max_tokens is not None:
            longest = max(int(lengths[order[start]]), 1)
            stop = min(stop, start + max(1, max_tokens // longest))
        yield order[start:stop]
        start = stop


def restore_order(order: np.ndarray) -> np.ndarray:
    """The inverse permutation of ``order``: ``sorted_results[restore_order(order)]`` is in input order."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse
