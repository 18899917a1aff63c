"""Sparse embeddings back to words: the tokens a vector weighs most, to show why a document matched."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse.rows import sparse_rows


def decode_rows(embeddings: Tensor, tokenizer: Any, top_k: int | None = None) -> list[list[tuple[str, float]]]:
    """For each row of ``embeddings`` (sparse or dense, 1-D or 2-D), its non-zero ``(token, weight)`` pairs,
    highest weight first (ties: lower token id first), at most ``top_k`` of them (all when None).

    Raises:
        ConfigError: ``top_k`` is not a positive integer, or the tensor is not 1-D or 2-D.
    """
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k <= 0):
        raise ConfigError(f"top_k must be a positive integer or None, found {top_k!r}")
    decoded: list[list[tuple[str, float]]] = []
    for row in sparse_rows(embeddings):
        pairs = sorted(zip(row.indices, row.values, strict=True), key=lambda pair: (-pair[1], pair[0]))
        pairs = pairs[:top_k] if top_k is not None else pairs
        tokens = tokenizer.convert_ids_to_tokens([index for index, _ in pairs])
        decoded.append([(str(token), weight) for token, (_, weight) in zip(tokens, pairs, strict=True)])
    return decoded
