"""The metric maths on hand-made data, and against scipy / scikit-learn on random data with ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sbert_plugins.evaluation.metrics import (
    RetrievalCutoffs,
    average_precision,
    average_ranks,
    best_accuracy_threshold,
    best_f1_threshold,
    matthews_corrcoef,
    ndcg_at_k,
    pearson,
    reciprocal_rank_at_k,
    retrieval_metrics,
    spearman,
)

scipy_stats = pytest.importorskip("scipy.stats")
sk_metrics = pytest.importorskip("sklearn.metrics")


def test_average_ranks_share_the_mean_rank_on_ties() -> None:
    np.testing.assert_array_equal(average_ranks([10, 20, 10, 30, 20, 20]), [1.5, 4, 1.5, 6, 4, 4])
    assert average_ranks([]).shape == (0,)


def test_correlations_on_hand_made_data() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)  # monotone, not linear
    assert pearson([1, 2, 3, 4], [1, 10, 100, 1000]) < 0.95
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))  # a constant has no correlation
    with pytest.raises(ValueError, match="equal length"):
        pearson([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 6, size=60) / 5  # many ties
    predicted = np.round(rng.normal(size=60) + gold, 1)  # ties too
    assert pearson(gold, predicted) == pytest.approx(scipy_stats.pearsonr(gold, predicted)[0], abs=1e-12)
    assert spearman(gold, predicted) == pytest.approx(scipy_stats.spearmanr(gold, predicted)[0], abs=1e-12)
    np.testing.assert_allclose(average_ranks(predicted), scipy_stats.rankdata(predicted, method="average"))


def test_average_precision_on_hand_made_data() -> None:
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision([0, 1], [0.9, 0.1]) == pytest.approx(0.5)
    assert average_precision([1, 1, 0], [0.5, 0.5, 0.5]) == pytest.approx(2 / 3)  # one tied threshold
    assert average_precision([0, 0], [0.3, 0.2]) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_and_mcc_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=80)
    scores = np.round(rng.normal(size=80) + labels, 1)
    assert average_precision(labels, scores) == pytest.approx(sk_metrics.average_precision_score(labels, scores))
    predicted = scores > 0.5
    assert matthews_corrcoef(labels, predicted) == pytest.approx(sk_metrics.matthews_corrcoef(labels, predicted))
    assert matthews_corrcoef(labels, np.ones(80)) == 0.0  # undefined: a constant prediction


def test_best_accuracy_threshold() -> None:
    assert best_accuracy_threshold([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0]) == pytest.approx((1.0, 0.55))
    # Distances: smaller is more similar.
    assert best_accuracy_threshold([1, 2, 5, 6], [1, 1, 0, 0], greater_is_better=False) == pytest.approx((1.0, 3.5))
    # Nothing beats predicting everything negative: the threshold sits just above the top score.
    acc, threshold = best_accuracy_threshold(np.array([0.9, 0.2], dtype=np.float32), [0, 0])
    assert acc == 1.0 and threshold > 0.9 and threshold == pytest.approx(0.9)
    # Tied scores are one group: the threshold never splits them.
    acc, threshold = best_accuracy_threshold([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    assert acc == 0.75 and threshold == pytest.approx(0.7)


def test_best_f1_threshold() -> None:
    f1, precision, recall, threshold = best_f1_threshold([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0])
    assert (f1, precision, recall) == pytest.approx((0.8, 2 / 3, 1.0))
    assert threshold == pytest.approx(0.4)
    assert best_f1_threshold([0.9, 0.1], [0, 0]) == (0.0, 0.0, 0.0, 0.0)
    f1, _, _, threshold = best_f1_threshold([1.0, 3.0, 2.0], [1, 0, 1], greater_is_better=False)
    assert f1 == pytest.approx(1.0) and threshold == pytest.approx(2.5)
    with pytest.raises(ValueError):
        best_f1_threshold([], [])


def test_ndcg_at_k_on_hand_made_data() -> None:
    assert ndcg_at_k([1, 0], [0.9, 0.1], 10) == pytest.approx(1.0)
    assert ndcg_at_k([1, 0], [0.1, 0.9], 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k([1, 0], [0.1, 0.9], 1) == 0.0
    # A tie shares the two positions' discounts.
    assert ndcg_at_k([1, 0], [0.5, 0.5], 10) == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert ndcg_at_k([0, 0], [0.5, 0.1], 10) == 0.0


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 5), (2, 10), (3, 1)])
def test_ndcg_at_k_matches_sklearn_with_ties(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    relevance = rng.integers(0, 3, size=12)
    scores = np.round(rng.normal(size=12), 1)
    expected = sk_metrics.ndcg_score([relevance], [scores], k=k)
    assert ndcg_at_k(relevance, scores, k) == pytest.approx(expected)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank_at_k([False, False, True], 10) == pytest.approx(1 / 3)
    assert reciprocal_rank_at_k([False, False, True], 2) == 0.0
    assert reciprocal_rank_at_k([], 5) == 0.0


def test_retrieval_metrics_on_hand_made_ranking() -> None:
    cutoffs = RetrievalCutoffs(accuracy=(1, 3), precision_recall=(2,), mrr=(10,), ndcg=(4,), map=(4,))
    metrics = retrieval_metrics([["a", "b", "c", "d"]], [{"b", "d", "z"}], cutoffs)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics == pytest.approx(
        {
            "accuracy@1": 0.0,
            "accuracy@3": 1.0,
            "precision@2": 0.5,
            "recall@2": 1 / 3,
            "mrr@10": 0.5,
            "ndcg@4": dcg / ideal,
            "map@4": (1 / 2 + 2 / 4) / 3,
        }
    )


def test_retrieval_metrics_average_over_queries() -> None:
    cutoffs = RetrievalCutoffs(accuracy=(1,), precision_recall=(1,), mrr=(1,), ndcg=(1,), map=(1,))
    metrics = retrieval_metrics([["x"], ["y"]], [{"x"}, {"x"}], cutoffs)
    assert metrics == {key: 0.5 for key in metrics}
    assert cutoffs.max_k == 1


def test_missing_positives_count_as_never_found() -> None:
    # One of two positives found, at rank 2: AP = (1/2) / 2; nDCG's ideal ranks both positives first.
    assert average_precision([0, 1], [0.9, 0.1], missing=1) == pytest.approx(0.25)
    assert ndcg_at_k([0, 1], [0.9, 0.1], 10, missing=1) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k([1], [0.5], 1, missing=1) == pytest.approx(1.0)  # the ideal's second positive is past k
