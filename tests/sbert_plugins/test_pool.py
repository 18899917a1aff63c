"""EncodePool: worker processes give the same embeddings, in order, and shut down cleanly."""

from __future__ import annotations

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
    assert all(not w.is_alive() for w in workers)
    with pytest.raises(SbertPluginsError, match="closed"):
        pool.encode(TEXTS)


def test_pool_rejects_non_strings_before_sending(tiny_encoder: SentenceEncoder) -> None:
    with (
        EncodePool(tiny_encoder, processes=1, threads_per_process=1) as pool,
        pytest.raises(TypeError, match="index 1"),
    ):
        pool.encode(["ok", 5])  # type: ignore[list-item]
