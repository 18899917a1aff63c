"""The fusion record in a re-ranker's folder, the pairing check, and the rule's two score inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import (
    FUSION_FILE,
    CrossEncoder,
    FusionRecord,
    check_fusion_pairing,
    first_stage_scores,
    fused_order,
    read_fusion_record,
    reranker_scores,
    write_fusion_record,
)
from sbert_plugins.cross_encoder.fusion_record import applied_fusion_weight
from sbert_plugins.errors import ConfigError
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier

RECORD = FusionRecord(
    weight=0.35, first_stage_fingerprint="a" * 16, first_stage="out/m", candidates=30, reranker_fingerprint="b" * 16
)


def test_record_round_trips_and_absent_is_none(tmp_path: Path) -> None:
    assert read_fusion_record(tmp_path) is None
    assert read_fusion_record("some/hub-id") is None
    path = write_fusion_record(tmp_path, RECORD)
    assert path == tmp_path / FUSION_FILE and read_fusion_record(tmp_path) == RECORD
    assert [p.name for p in tmp_path.iterdir()] == [FUSION_FILE]  # no temporary file left behind
    with pytest.raises(ConfigError, match="no such folder"):
        write_fusion_record(tmp_path / "missing", RECORD)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"rule": 0, "weight": 0.5}', "fusion rule 0"),
        ('{"rule": 1, "weight": 0.5}', "missing fields"),
        (json.dumps({**RECORD.__dict__, "weight": 1.5}), r"must lie in \[0, 1\]"),
        (json.dumps({**RECORD.__dict__, "candidates": 0}), "candidates must be a positive integer"),
    ],
)
def test_bad_records_are_errors_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / FUSION_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        read_fusion_record(tmp_path)
    assert str(tmp_path / FUSION_FILE) in str(caught.value)


def test_pairing_with_another_bi_encoder_is_refused_or_warned() -> None:
    check_fusion_pairing(RECORD, first_stage_fingerprint="a" * 16, reranker_fingerprint="b" * 16)
    with pytest.raises(ConfigError) as caught:
        check_fusion_pairing(RECORD, first_stage_fingerprint="c" * 16, where="out/rr")
    message = str(caught.value)
    assert "out/m" in message and "a" * 16 in message and "c" * 16 in message and "--fusion-weight" in message
    with pytest.raises(ConfigError, match="re-trained since"):
        check_fusion_pairing(RECORD, reranker_fingerprint="d" * 16)
    with pytest.warns(UserWarning, match="using the weight you passed"):
        check_fusion_pairing(RECORD, first_stage_fingerprint="c" * 16, strict=False)


def test_the_rule_reads_logits_and_bi_encoder_similarities(tmp_path: Path, tiny_encoder: SentenceEncoder) -> None:
    cross = CrossEncoder(build_tiny_classifier(tmp_path / "ce"), device="cpu")
    texts = ["a dog runs in the park", "bread in the kitchen", "the cat sleeps"]
    pairs = [("a dog", t) for t in texts]
    logits = reranker_scores(cross, pairs)
    np.testing.assert_allclose(logits, cross.predict(pairs, activation="identity"), atol=1e-6)
    assert not np.allclose(logits, cross.predict(pairs))  # not the sigmoid the model applies by default
    first = first_stage_scores(tiny_encoder, "a dog", texts)
    expected = tiny_encoder.similarity(tiny_encoder.encode_queries(["a dog"]), tiny_encoder.encode_documents(texts))
    np.testing.assert_allclose(first, np.asarray(expected).reshape(-1), atol=1e-6)
    assert fused_order([0.1, 0.5, 0.5], [0.0, 0.0, 0.0], 0.5) == [1, 2, 0]  # ties keep the input order


def test_applied_weight_from_the_request_and_the_record(tmp_path: Path) -> None:
    same = {"first_stage_fingerprint": "a" * 16, "reranker_fingerprint": "b" * 16}
    assert applied_fusion_weight("recorded", tmp_path, **same) is None  # no record: no fusion
    write_fusion_record(tmp_path, RECORD)
    assert applied_fusion_weight("recorded", tmp_path, **same) == 0.35
    assert applied_fusion_weight(0.6, tmp_path, **same) == 0.6
    assert applied_fusion_weight(None, tmp_path, **same) is None
    with pytest.raises(ConfigError, match="was tuned with the bi-encoder out/m"):
        applied_fusion_weight("recorded", tmp_path, first_stage_fingerprint="c" * 16)
    with pytest.warns(UserWarning):
        assert applied_fusion_weight(0.6, tmp_path, first_stage_fingerprint="c" * 16) == 0.6


def test_applied_weight_checks_only_the_models_already_known(tmp_path: Path) -> None:
    """A re-ranker loaded on first use (LangChain's SBERTReranker) checks the first stage at construction and
    the re-ranker once loaded: a fingerprint not given is not checked, one given still is."""
    write_fusion_record(tmp_path, RECORD)
    assert applied_fusion_weight("recorded", tmp_path) == 0.35
    assert applied_fusion_weight("recorded", tmp_path, reranker_fingerprint="b" * 16) == 0.35
    with pytest.raises(ConfigError, match="re-trained since"):
        applied_fusion_weight("recorded", tmp_path, reranker_fingerprint="c" * 16)
    with pytest.warns(UserWarning, match="re-trained since"):
        assert applied_fusion_weight(0.6, tmp_path, reranker_fingerprint="c" * 16) == 0.6
