"""The fusion rule over hybrid candidates (integrations.hybrid) and the learned sparse adapter's input checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from integrations.hybrid import check_sparse_weight, fuse_candidates
from integrations.learned_sparse import LearnedSparseEncoder, model_name
from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse import SparseEncoder

Z = math.sqrt(1.5)  # the z-score of the extremes of three evenly spaced scores


def test_fuse_candidates_standardises_each_side_over_the_candidates() -> None:
    dense = {"a": 1.0, "b": 0.0, "c": 0.5}
    sparse = {"a": 0.0, "b": 10.0, "c": 5.0}  # another scale: only the z-scores count
    ranked = fuse_candidates(dense, sparse, 0.8)
    assert [doc for doc, _ in ranked] == ["b", "c", "a"]
    assert [score for _, score in ranked] == pytest.approx([0.6 * Z, 0.0, -0.6 * Z])
    # Equal shares of opposite z-scores: all ties, which keep the dense side's order.
    assert [doc for doc, _ in fuse_candidates(dense, sparse, 0.5)] == ["a", "b", "c"]
    assert [doc for doc, _ in fuse_candidates(dense, sparse, 0.0)] == ["a", "c", "b"]  # dense alone
    constant = fuse_candidates(dense, {"a": 0.0, "b": 0.0, "c": 0.0}, 0.5)  # a side that tells nothing
    assert [doc for doc, _ in constant] == ["a", "c", "b"]


def test_fuse_candidates_refuses_mismatched_sides_and_bad_weights() -> None:
    with pytest.raises(ConfigError, match="same candidates"):
        fuse_candidates({"a": 1.0, "b": 0.0}, {"a": 1.0}, 0.5)
    for weight in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ConfigError, match="sparse_weight"):
            check_sparse_weight(weight)  # type: ignore[arg-type]


def test_learned_sparse_encoder_checks_its_input(tiny_splade_dir: Path) -> None:
    encoder = LearnedSparseEncoder(str(tiny_splade_dir))
    assert not encoder.loaded and encoder.name == str(tiny_splade_dir)
    assert encoder.encode_documents([]) == [] and not encoder.loaded  # nothing to encode: nothing loaded
    with pytest.raises(TypeError, match="encode_query"):
        encoder.encode_documents("one text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        encoder.encode_query(["a list"])  # type: ignore[arg-type]
    row = encoder.encode_query("a dog runs")
    assert list(row.indices) == sorted(row.indices) and all(v > 0 for v in row.values)
    assert model_name(SparseEncoder(modules=list(encoder.model), device="cpu")) == "<modules>"
    with pytest.raises(ConfigError, match="sparse_model must be"):
        LearnedSparseEncoder(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="batch_size"):
        LearnedSparseEncoder(encoder.model, batch_size=0)
