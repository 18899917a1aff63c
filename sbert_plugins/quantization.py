"""Output quantization of embeddings: int8 / uint8 (scalar) and binary / ubinary (sign bits)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from sbert_plugins.errors import ConfigError

OutputPrecision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
OUTPUT_PRECISIONS: tuple[str, ...] = get_args(OutputPrecision)


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
        ranges = np.vstack((source.min(axis=0), source.max(axis=0)))
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
