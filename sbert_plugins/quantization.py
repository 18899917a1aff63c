"""Output quantization of embeddings: int8 / uint8 (scalar) and binary / ubinary (sign bits)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from sbert_plugins.errors import ConfigError

OutputPrecision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
OUTPUT_PRECISIONS: tuple[str, ...] = get_args(OutputPrecision)
SCALED_PRECISIONS = ("int8", "uint8")
"""The precisions that map values to buckets, on a scale (``ranges``) that every chunk and query must share."""


def quantize_embeddings(
    embeddings: np.ndarray,
    precision: OutputPrecision,
    *,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """Quantize float embeddings of shape ``(n, dim)``.

    ``int8``/``uint8`` map each dimension's [min, max] onto 256 buckets; the range comes from
    ``ranges`` (shape ``(2, dim)``), else from ``calibration_embeddings``, else from ``embeddings``.
    ``binary``/``ubinary`` keep the sign bit of each value (``> 0``), packed 8 per byte, so the
    result has ``dim / 8`` columns; ``binary`` stores the bytes offset by -128 as int8.
    Returns a new array; ``float32`` returns the embeddings as float32.
    """
    if precision not in OUTPUT_PRECISIONS:
        raise ConfigError(f"output precision {precision!r} is not supported; use one of {OUTPUT_PRECISIONS}")
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if precision == "float32":
        return embeddings
    if precision in ("binary", "ubinary"):
        packed = np.packbits(embeddings > 0, axis=-1)
        return (packed.astype(np.int16) - 128).astype(np.int8) if precision == "binary" else packed
    if ranges is None:
        source = calibration_embeddings if calibration_embeddings is not None else embeddings
        if len(source) == 0:
            return np.empty(embeddings.shape, dtype=np.int8 if precision == "int8" else np.uint8)
        ranges = calibration_ranges(source)
    ranges = np.asarray(ranges, dtype=np.float32)
    if ranges.shape != (2, embeddings.shape[-1]):
        raise ConfigError(f"ranges must have shape (2, {embeddings.shape[-1]}), found {ranges.shape}")
    starts = ranges[0]
    steps = (ranges[1] - ranges[0]) / 255
    steps[steps == 0] = 1.0  # a constant dimension maps to the lowest bucket instead of dividing by zero
    buckets = np.clip((embeddings - starts) / steps, 0, 255).astype(np.int64)
    if precision == "uint8":
        return buckets.astype(np.uint8)
    return (buckets - 128).astype(np.int8)


def calibration_ranges(embeddings: np.ndarray) -> np.ndarray:
    """Each dimension's ``[min, max]`` over ``embeddings`` (shape ``(n, dim)``, ``n >= 1``): the ``ranges``
    (shape ``(2, dim)``, float32) that put every later int8/uint8 quantization on the same scale.

    Raises:
        ConfigError: ``embeddings`` is not a non-empty 2-D array.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) == 0:
        raise ConfigError(f"calibration embeddings must be a non-empty 2-D array, found shape {embeddings.shape}")
    return np.vstack((embeddings.min(axis=0), embeddings.max(axis=0)))


class ChunkQuantizer:
    """Quantizes float embeddings that arrive in chunks, every chunk on one scale.

    For ``int8``/``uint8`` the scale is ``ranges`` when given, else the ranges of the first
    ``calibration_size`` rows seen (the calibration sample, taken from the first chunk). Other
    precisions need no scale.

    Args:
        precision: the output precision.
        ranges: each dimension's ``[min, max]``, shape ``(2, dim)``.
        calibration_size: rows of the first chunk that set the ranges when none are given.

    Raises:
        ConfigError: an unknown precision, ``ranges`` for a precision without a scale, a calibration size
            below 1, or (when called) a first chunk smaller than the calibration sample while more follow.
    """

    def __init__(self, precision: OutputPrecision, *, ranges: np.ndarray | None = None, calibration_size: int) -> None:
        if precision not in OUTPUT_PRECISIONS:
            raise ConfigError(f"output precision {precision!r} is not supported; use one of {OUTPUT_PRECISIONS}")
        if ranges is not None and precision not in SCALED_PRECISIONS:
            raise ConfigError(f"ranges apply to output precision 'int8' or 'uint8', not {precision!r}")
        if isinstance(calibration_size, bool) or not isinstance(calibration_size, int) or calibration_size < 1:
            raise ConfigError(f"calibration_size must be a positive integer, found {calibration_size!r}")
        self.precision = precision
        self.ranges = None if ranges is None else np.asarray(ranges, dtype=np.float32)
        self.calibration_size = calibration_size
        self.calibrated_on = 0
        """Rows the ranges were computed from (0 when they were given or are not needed)."""

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """``embeddings`` (float, ``(n, dim)``) in the output precision, on the scale of every other chunk."""
        if self.precision in SCALED_PRECISIONS and self.ranges is None and len(embeddings):
            sample = embeddings[: self.calibration_size]
            self.ranges, self.calibrated_on = calibration_ranges(sample), len(sample)
        return quantize_embeddings(embeddings, self.precision, ranges=self.ranges)
