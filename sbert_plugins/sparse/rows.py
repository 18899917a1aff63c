"""Sparse rows: the one representation integrations exchange, and the conversions to and from tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sbert_plugins.errors import ConfigError


@dataclass(frozen=True)
class SparseVector:
    """One sparse embedding: the active dimensions (ascending) and their weights, the shape Qdrant, LangChain
    and Haystack store sparse vectors in.

    Raises:
        ConfigError: indices and values differ in length, or indices are not strictly ascending.
    """

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ConfigError(
                f"SparseVector has {len(self.indices)} indices but {len(self.values)} values; give one value per index"
            )
        if any(b <= a for a, b in zip(self.indices, self.indices[1:], strict=False)):
            raise ConfigError("SparseVector indices must be strictly ascending (sorted, no duplicates)")


def sparse_rows(embeddings: Tensor) -> list[SparseVector]:
    """One :class:`SparseVector` per row of ``embeddings`` (sparse COO or dense; 1-D counts as one row).
    Zeros are left out; values are float32 numbers, indices ascending.

    Raises:
        ConfigError: the tensor is not 1-D or 2-D.
    """
    if embeddings.dim() not in (1, 2):
        raise ConfigError(f"sparse_rows takes a 1-D or 2-D tensor, found {embeddings.dim()}-D")
    matrix = embeddings.unsqueeze(0) if embeddings.dim() == 1 else embeddings
    matrix = (matrix if matrix.is_sparse else matrix.to_sparse()).coalesce().cpu()
    rows, columns = matrix.indices()
    values = matrix.values().float()
    keep = values != 0
    rows, columns, values = rows[keep], columns[keep], values[keep]
    counts = torch.bincount(rows, minlength=matrix.shape[0]).tolist()
    result: list[SparseVector] = []
    start = 0
    column_list, value_list = columns.tolist(), values.tolist()
    for count in counts:  # coalesced: sorted by row, then by column
        result.append(SparseVector(tuple(column_list[start : start + count]), tuple(value_list[start : start + count])))
        start += count
    return result


def keep_top_k(embeddings: Tensor, k: int | None) -> Tensor:
    """A dense copy of ``embeddings`` (2-D, dense) keeping the ``k`` largest-magnitude values of each row (all
    when ``k`` is None or at least the width); the rest become 0.

    Raises:
        ConfigError: ``k`` is not a positive integer.
    """
    if k is None:
        return embeddings
    check_max_active_dims(k)
    if k >= embeddings.shape[-1]:
        return embeddings
    top = torch.topk(embeddings.abs(), k=k, dim=-1).indices
    return torch.zeros_like(embeddings).scatter(-1, top, embeddings.gather(-1, top))


def check_max_active_dims(value: object) -> int | None:
    """``value`` when it is None or a positive integer.

    Raises:
        ConfigError: anything else.
    """
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"max_active_dims must be a positive integer or None, found {value!r}")
    return value
