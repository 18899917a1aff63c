"""Output quantization against the reference implementation's quantize_embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers.util import quantize_embeddings as ref_quantize

from sbert_plugins import ConfigError, quantize_embeddings

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
