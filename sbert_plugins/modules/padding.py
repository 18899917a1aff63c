"""Padding token id lists into rectangular ``input_ids`` / ``attention_mask`` tensors."""

from __future__ import annotations

from itertools import chain

import numpy as np
import torch
from torch import Tensor


def pad_rows(ids: list[list[int]], *, pad_id: int, left: bool = False) -> tuple[Tensor, Tensor]:
    """``(input_ids, attention_mask)`` of shape ``(len(ids), longest)``; padding on the right unless ``left``.

    Built with one vectorised fill rather than a Python loop per row, which matters for models whose
    forward pass is cheaper than the padding (static embeddings).
    """
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    longest = int(lengths.max()) if len(ids) else 0
    positions = np.arange(longest)
    mask = positions >= (longest - lengths)[:, None] if left else positions < lengths[:, None]
    input_ids = np.full((len(ids), longest), pad_id, dtype=np.int64)
    if longest:
        input_ids[mask] = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))
