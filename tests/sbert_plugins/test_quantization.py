"""Output quantization against the reference implementation's quantize_embeddings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sentence_transformers.util import quantize_embeddings as ref_quantize

from sbert_plugins import ConfigError, quantize_embeddings
from sbert_plugins.quantization import ChunkQuantizer, calibration_ranges

EMB = np.random.default_rng(0).normal(size=(20, 64)).astype(np.float32)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_equals_the_reference(precision: str) -> None:
    ours = quantize_embeddings(EMB, precision)  # type: ignore[arg-type]
    ref = ref_quantize(EMB, precision=precision)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_calibration_embeddings_and_ranges_give_the_same_result() -> None:
    calibration = np.random.default_rng(1).normal(size=(100, 64)).astype(np.float32)
    ranges = np.vstack((calibration.min(0), calibration.max(0)))
    by_calibration = quantize_embeddings(EMB, "int8", calibration_embeddings=calibration)
    np.testing.assert_array_equal(by_calibration, quantize_embeddings(EMB, "int8", ranges=ranges))
    np.testing.assert_array_equal(
        by_calibration, ref_quantize(EMB, precision="int8", calibration_embeddings=calibration)
    )


def test_binary_keeps_sign_bits() -> None:
    packed = quantize_embeddings(np.array([[1, -1, 1, -1, 0, 0, 2, 3]], dtype=np.float32), "ubinary")
    assert packed.tolist() == [[0b10100011]]


def test_errors() -> None:
    with pytest.raises(ConfigError, match="int4"):
        quantize_embeddings(EMB, "int4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="ranges must have shape"):
        quantize_embeddings(EMB, "int8", ranges=np.zeros((2, 3)))


def test_encode_quantizes_on_given_ranges_so_calls_share_one_scale(tiny_encoder: Any) -> None:
    texts = ["the dog runs in the park", "a man plays guitar", "the cat sits", "two people eat bread"]
    floats = tiny_encoder.encode(texts)
    ranges = calibration_ranges(floats)
    # Before: encode took no ranges, so one text alone was quantized on its own (degenerate) scale.
    alone = tiny_encoder.encode(texts[1:2], output_precision="int8", ranges=ranges)
    np.testing.assert_array_equal(alone, tiny_encoder.encode(texts, output_precision="int8", ranges=ranges)[1:2])
    by_sample = tiny_encoder.encode(texts[1:2], output_precision="uint8", calibration_embeddings=floats)
    np.testing.assert_array_equal(by_sample, quantize_embeddings(floats[1:2], "uint8", ranges=ranges))
    with pytest.raises(ConfigError, match="apply to output_precision 'int8' or 'uint8'"):
        tiny_encoder.encode(texts, output_precision="binary", ranges=ranges)


def test_chunk_quantizer_calibrates_once_on_the_first_chunk() -> None:
    rows = np.random.default_rng(2).normal(size=(100, 64)).astype(np.float32)
    quantize = ChunkQuantizer("int8", calibration_size=50)
    first, second = quantize(rows[:60]), quantize(rows[60:])
    assert quantize.calibrated_on == 50
    np.testing.assert_array_equal(
        np.vstack((first, second)), quantize_embeddings(rows, "int8", ranges=calibration_ranges(rows[:50]))
    )
    assert ChunkQuantizer("binary", calibration_size=1)(EMB).shape == (len(EMB), EMB.shape[1] // 8)
    with pytest.raises(ConfigError, match="ranges apply"):
        ChunkQuantizer("binary", ranges=calibration_ranges(EMB), calibration_size=1)
