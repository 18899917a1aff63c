"""CrossEncoderRerankingEvaluator: equal to the reference's metrics on a tiny cross-encoder, hand-checked
values with a stub model, and bad samples rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sentence_transformers import CrossEncoder as ReferenceCrossEncoder
from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator as Reference

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.cross_encoder_reranking import CrossEncoderRerankingEvaluator

from ..cross_encoder_tiny import build_tiny_classifier
from .conftest import make_sentences


@pytest.fixture(scope="module")
def ce_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("ce-eval") / "model", seed=5)


def sample_sets() -> dict[str, list[dict[str, Any]]]:
    texts = make_sentences(120, seed=11)
    queries, docs = texts[:12], texts[12:]
    with_negatives = [
        {"query": q, "positive": docs[3 * i : 3 * i + 1 + i % 2], "negative": docs[40 + 4 * i : 44 + 4 * i]}
        for i, q in enumerate(queries[:6])
    ]
    retrieved = []
    for i, q in enumerate(queries[6:]):
        documents = docs[60 + 6 * i : 66 + 6 * i]
        positives = [documents[i % 6], docs[i]] if i % 2 else [documents[(i + 2) % 6]]
        retrieved.append({"query": q, "positive": positives, "documents": documents})
    retrieved.append({"query": queries[0], "positive": [docs[100]], "documents": docs[101:105]})  # positive missed
    return {"negatives": with_negatives, "documents": retrieved}


@pytest.mark.parametrize("kind", ["negatives", "documents"])
@pytest.mark.parametrize("always_rerank_positives", [True, False])
@pytest.mark.parametrize("at_k", [3, 10])
def test_metrics_equal_the_reference(ce_dir: Path, kind: str, always_rerank_positives: bool, at_k: int) -> None:
    samples = sample_sets()[kind]
    ours = CrossEncoderRerankingEvaluator(
        samples, at_k=at_k, always_rerank_positives=always_rerank_positives, name="dev"
    )(CrossEncoder(ce_dir, device="cpu"))
    theirs = Reference(samples, at_k=at_k, always_rerank_positives=always_rerank_positives, name="dev")(
        ReferenceCrossEncoder(str(ce_dir), device="cpu")
    )
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(float(value), abs=1e-6), key
    assert ("dev_base_map" in ours) == (kind == "documents")


class StubModel:
    """Scores a pair by the number in its document text ("doc 7" -> 7.0)."""

    def predict(self, pairs: list[tuple[str, str]], **_: Any) -> np.ndarray:
        return np.array([float(doc.split()[-1]) for _, doc in pairs], dtype=np.float32)


def test_hand_checked_values_and_the_gain_over_retrieval(tmp_path: Path) -> None:
    samples = [
        # Retrieval put the positive third; the re-ranker puts it first.
        {"query": "q1", "positive": ["doc 9"], "documents": ["doc 1", "doc 2", "doc 9"]},
        # The re-ranker puts the positive second of three.
        {"query": "q2", "positive": ["doc 5"], "negative": ["doc 8", "doc 1"]},
    ]
    evaluator = CrossEncoderRerankingEvaluator(samples, at_k=10)
    metrics = evaluator(StubModel(), output_path=tmp_path, epoch=1, steps=5)  # type: ignore[arg-type]
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2) / 2)
    assert metrics["map"] == pytest.approx((1 + 1 / 2) / 2)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert metrics["base_mrr@10"] == pytest.approx(1 / 3)
    assert metrics["base_ndcg@10"] == pytest.approx(1 / np.log2(4))
    assert evaluator.primary_metric == "ndcg@10"
    rows = (tmp_path / evaluator.csv_file).read_text().splitlines()
    assert rows[0].startswith("epoch,steps,map,mrr@10,ndcg@10,base_map") and rows[1].startswith("1,5,")


def test_a_sample_without_a_candidate_positive_scores_zero() -> None:
    samples = [
        {"query": "q", "positive": ["doc 3"], "documents": ["doc 1", "doc 2"]},
        {"query": "q", "positive": ["doc 3"], "negative": ["doc 1"]},
    ]
    metrics = CrossEncoderRerankingEvaluator(samples, at_k=1, always_rerank_positives=False)(StubModel())  # type: ignore[arg-type]
    assert metrics["mrr@1"] == pytest.approx(0.5)
    assert metrics["base_ndcg@1"] == 0.0


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([], "non-empty list"),
        ([{"query": "q", "negative": ["d"]}], r"samples\[0\] must be a dict"),
        ([{"query": "q", "positive": "p", "negative": ["d"], "documents": ["d"]}], "exactly one of"),
        ([{"query": "q", "positive": "p"}], "exactly one of"),
        ([{"query": 3, "positive": "p", "negative": ["d"]}], r"samples\[0\]\['query'\] is int"),
        ([{"query": "q", "positive": ["p", None], "negative": ["d"]}], r"\['positive'\]\[1\] is NoneType"),
    ],
)
def test_bad_samples_are_config_errors(samples: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CrossEncoderRerankingEvaluator(samples)


def test_at_k_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="at_k"):
        CrossEncoderRerankingEvaluator([{"query": "q", "positive": "p", "negative": ["d"]}], at_k=0)
