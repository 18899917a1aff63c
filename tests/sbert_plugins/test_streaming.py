"""Chunked encoding of iterables and the appending .npy writer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from sbert_plugins.streaming import NpyWriter, chunked


def test_chunked_takes_generators_and_validates_size() -> None:
    assert list(chunked((str(i) for i in range(5)), 2)) == [["0", "1"], ["2", "3"], ["4"]]
    with pytest.raises(ConfigError, match="chunk_size"):
        list(chunked(["a"], 0))


def test_npy_writer_appends_and_sets_the_final_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=(n, 6)).astype(np.float32) for n in (3, 0, 5)]
    with NpyWriter(tmp_path / "out.npy") as writer:
        for chunk in chunks:
            writer.write(chunk)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), np.concatenate(chunks))
    with NpyWriter(tmp_path / "empty.npy", dim=4):
        pass
    assert np.load(tmp_path / "empty.npy").shape == (0, 4)


def test_npy_writer_rejects_a_chunk_that_does_not_fit(tmp_path: Path) -> None:
    with NpyWriter(tmp_path / "out.npy") as writer:
        writer.write(np.zeros((2, 4), dtype=np.float32))
        with pytest.raises(DataError, match=r"shape \(2, 5\)"):
            writer.write(np.zeros((2, 5), dtype=np.float32))
    assert np.load(tmp_path / "out.npy").shape == (2, 4)


def test_encode_stream_equals_encode(tiny_encoder: SentenceEncoder) -> None:
    texts = [f"a {w} runs in the park" for w in ("dog", "cat", "man", "woman", "child")]

    def generate() -> Iterator[str]:
        yield from texts

    chunks = list(tiny_encoder.encode_stream(generate(), chunk_size=2, normalize=True))
    assert [len(c) for c in chunks] == [2, 2, 1]
    np.testing.assert_allclose(np.concatenate(chunks), tiny_encoder.encode(texts, normalize=True), atol=1e-6)
