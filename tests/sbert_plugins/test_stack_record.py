"""The stack record (stack.json) and reciprocal rank fusion: round trip, validation, fingerprint checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbert_plugins.errors import ConfigError
from sbert_plugins.rank_fusion import reciprocal_rank_fusion
from sbert_plugins.stack_record import (
    STACK_FILE,
    StackRecord,
    check_stack_models,
    read_stack_record,
    write_stack_record,
)


def _record(**overrides: object) -> StackRecord:
    settings: dict[str, object] = {
        "first_stage": "dense+bm25",
        "dense_fingerprint": "d1",
        "reranker": "../reranker",
        "reranker_fingerprint": "r1",
        "fusion_weight": 0.35,
        "bm25": {"k1": 1.2},
        "validation_ndcg": {"dense": 0.5, "dense+bm25+reranker": 0.7},
    }
    return StackRecord(**{**settings, **overrides})  # type: ignore[arg-type]


def test_round_trip_and_paths(tmp_path: Path) -> None:
    record = _record()
    path = write_stack_record(tmp_path, record)
    assert path == tmp_path / STACK_FILE and not list(tmp_path.glob(".*"))  # no temporary file left
    assert read_stack_record(tmp_path) == record
    assert record.name == "dense+bm25+reranker" and record.uses_bm25 and record.uses_dense
    assert record.reranker_path(tmp_path) == tmp_path / "../reranker"
    assert read_stack_record(tmp_path / "elsewhere") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"first_stage": "splade"}, "first_stage must be one of"),
        ({"first_stage": "dense+sparse"}, "sparse_model and sparse_fingerprint"),
        ({"fusion_weight": None}, "given together"),
        ({"fusion_weight": 1.5}, "must lie in"),
        ({"candidates": 0}, "candidates must be a positive integer"),
        ({"dense_fingerprint": ""}, "dense_fingerprint"),
    ],
)
def test_invalid_records_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _record(**overrides)


def test_damaged_or_foreign_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / STACK_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid JSON"):
        read_stack_record(tmp_path)
    (tmp_path / STACK_FILE).write_text(json.dumps({"version": 99}), encoding="utf-8")
    with pytest.raises(ConfigError, match="record version 99"):
        read_stack_record(tmp_path)
    write_stack_record(tmp_path, _record())
    data = json.loads((tmp_path / STACK_FILE).read_text(encoding="utf-8"))
    (tmp_path / STACK_FILE).write_text(json.dumps({**data, "fusion_weight": "high"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{STACK_FILE}: fusion_weight"):
        read_stack_record(tmp_path)


def test_fingerprint_mismatch_names_the_model_and_the_fixes() -> None:
    record = _record()
    check_stack_models(record, dense_fingerprint="d1", reranker_fingerprint="r1", where="out/m")
    with pytest.raises(ConfigError) as caught:
        check_stack_models(record, dense_fingerprint="d2", reranker_fingerprint="r1", where="out/m")
    message = str(caught.value)
    assert "bi-encoder out/m had fingerprint d1 when the stack was chosen, now d2" in message
    assert "--no-stack" in message and "stack=False" in message
    with pytest.raises(ConfigError, match="re-ranker ../reranker had fingerprint r1"):
        check_stack_models(record, dense_fingerprint="d1", reranker_fingerprint="r2")


def test_reciprocal_rank_fusion_sums_reciprocal_ranks_and_keeps_first_met_order_on_ties() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d"]])
    assert fused[0] == ("c", pytest.approx(1 / 4 + 1 / 2))
    # a (1/2) and b (1/3) from the first side; d (1/3) ties b and comes after it
    assert [doc for doc, _ in fused] == ["c", "a", "b", "d"]
    assert reciprocal_rank_fusion([["x"], ["y"]], limit=1) == [("x", 0.5)]
    with pytest.raises(ConfigError, match="positive integer"):
        reciprocal_rank_fusion([["x"]], k=0)
