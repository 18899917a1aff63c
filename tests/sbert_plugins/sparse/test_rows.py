"""SparseVector, sparse_rows, keep_top_k and decode_rows on hand-made tensors."""

from __future__ import annotations

import pytest
import torch

from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse import SparseVector, keep_top_k, sparse_rows
from sbert_plugins.sparse.decode import decode_rows


def test_sparse_rows_from_sparse_and_dense_agree() -> None:
    dense = torch.tensor([[0.0, 2.0, 0.0, 1.5], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    expected = [SparseVector((1, 3), (2.0, 1.5)), SparseVector((), ()), SparseVector((0,), (3.0,))]
    assert sparse_rows(dense) == expected
    assert sparse_rows(dense.to_sparse()) == expected
    assert sparse_rows(dense[0]) == expected[:1]


def test_sparse_vector_checks_its_shape() -> None:
    with pytest.raises(ConfigError, match="2 indices but 1 values"):
        SparseVector((1, 2), (1.0,))
    with pytest.raises(ConfigError, match="strictly ascending"):
        SparseVector((2, 1), (1.0, 1.0))
    with pytest.raises(ConfigError, match="1-D or 2-D"):
        sparse_rows(torch.zeros(1, 2, 3))


def test_keep_top_k_keeps_the_largest_magnitudes() -> None:
    dense = torch.tensor([[0.1, -0.9, 0.5, 0.3], [1.0, 2.0, 3.0, 4.0]])
    assert torch.equal(keep_top_k(dense, 2), torch.tensor([[0.0, -0.9, 0.5, 0.0], [0.0, 0.0, 3.0, 4.0]]))
    assert keep_top_k(dense, None) is dense
    assert torch.equal(keep_top_k(dense, 9), dense)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="max_active_dims must be a positive integer"):
            keep_top_k(dense, bad)  # type: ignore[arg-type]


class _Tokens:
    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [f"t{i}" for i in ids]


def test_decode_rows_orders_by_weight() -> None:
    dense = torch.tensor([[0.0, 0.2, 0.9, 0.2], [0.0, 0.0, 0.0, 0.0]])
    assert decode_rows(dense, _Tokens()) == [
        [("t2", pytest.approx(0.9)), ("t1", pytest.approx(0.2)), ("t3", pytest.approx(0.2))],
        [],
    ]
    assert decode_rows(dense.to_sparse(), _Tokens(), top_k=1) == [[("t2", pytest.approx(0.9))], []]
    with pytest.raises(ConfigError, match="top_k must be a positive integer"):
        decode_rows(dense, _Tokens(), top_k=0)
