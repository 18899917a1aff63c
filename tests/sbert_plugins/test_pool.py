"""EncodePool: worker processes give the same embeddings, in order, and shut down cleanly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sbert_plugins import SbertPluginsError, SentenceEncoder
from sbert_plugins.pool import EncodePool

TEXTS = [f"the {w} {v} in the park" for w in ("dog", "cat", "man", "bird") for v in ("runs", "sits", "eats")]


def test_pool_matches_encode_in_input_order_and_closes(tiny_encoder: SentenceEncoder) -> None:
    expected = tiny_encoder.encode(TEXTS, normalize=True)
    with EncodePool(tiny_encoder, processes=2, threads_per_process=1) as pool:
        workers = list(pool._workers)
        np.testing.assert_allclose(pool.encode(TEXTS, chunk_size=5, normalize=True), expected, atol=1e-5)
        # reused, not restarted
        np.testing.assert_allclose(pool.encode(TEXTS[:3], normalize=True), expected[:3], atol=1e-5)
        assert pool.encode([]).shape == (0, 32)
        with pytest.raises(SbertPluginsError, match="chunk 0 .* prompt_name 'nope'"):
            pool.encode(TEXTS, chunk_size=4, prompt_name="nope")
        np.testing.assert_allclose(pool.encode(TEXTS, chunk_size=4, normalize=True), expected, atol=1e-5)
        assert_concurrent_calls_get_their_own_results(pool, expected)
    assert all(not w.is_alive() for w in workers)
    with pytest.raises(SbertPluginsError, match="closed"):
        pool.encode(TEXTS)


def assert_concurrent_calls_get_their_own_results(pool: EncodePool, expected: np.ndarray) -> None:
    """Four threads encode different slices at once, in chunks of 2 (before: they shared chunk ids and each
    took the others' answers: wrong rows, or a call waiting forever for answers another had taken)."""
    slices = [slice(0, 12), slice(3, 9), slice(6, 12), slice(1, 4)]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(slices))

    def call(n: int) -> None:
        start.wait()
        results[n] = pool.encode(TEXTS[slices[n]], chunk_size=2, normalize=True)

    threads = [threading.Thread(target=call, args=(n,), daemon=True) for n in range(len(slices))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == list(range(len(slices)))
    for n, part in enumerate(slices):
        np.testing.assert_allclose(results[n], expected[part], atol=1e-5)


def test_pool_rejects_non_strings_before_sending(tiny_encoder: SentenceEncoder) -> None:
    with (
        EncodePool(tiny_encoder, processes=1, threads_per_process=1) as pool,
        pytest.raises(TypeError, match="index 1"),
    ):
        pool.encode(["ok", 5])  # type: ignore[list-item]
