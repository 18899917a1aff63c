"""Score fusion of first-stage and re-ranker scores, and the choice of its weight."""

from __future__ import annotations

import numpy as np
import pytest

from sbert_plugins.cross_encoder import FUSION_GRID, fuse_scores, fused_ndcg, tune_fusion_weight
from sbert_plugins.errors import ConfigError


def test_fuse_scores_standardises_each_stage_before_mixing() -> None:
    first = np.array([0.9, 0.5, 0.1])  # cosines
    second = np.array([-2.0, 4.0, 1.0])  # logits on another scale
    fused = fuse_scores(first, second, 0.5)
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    np.testing.assert_allclose(fused, 0.5 * z(second) + 0.5 * z(first))
    np.testing.assert_allclose(fuse_scores(first, second, 0.0), z(first))
    np.testing.assert_allclose(fuse_scores(first, second, 1.0), z(second))


def test_fuse_scores_treats_a_constant_list_as_no_signal() -> None:
    fused = fuse_scores([0.3, 0.3, 0.3], [1.0, 3.0, 2.0], 0.2)
    assert np.argsort(-fused).tolist() == [1, 2, 0]


def test_fuse_scores_rejects_bad_weight_and_mismatched_lengths() -> None:
    with pytest.raises(ConfigError, match="1.5"):
        fuse_scores([1.0], [1.0], 1.5)
    with pytest.raises(ValueError, match="3 scores but reranker has 2"):
        fuse_scores([1.0, 2.0, 3.0], [1.0, 2.0], 0.5)


def test_tune_fusion_weight_finds_the_mix_that_beats_both_stages() -> None:
    # Each stage puts a different wrong document first; the relevant one is second for both, so only a
    # mix ranks it first.
    first = [np.array([1.0, 0.8, 0.0, 0.1])] * 4
    second = [np.array([0.0, 0.8, 1.0, 0.1])] * 4
    labels = [np.array([0, 1, 0, 0])] * 4
    fit = tune_fusion_weight(first, second, labels, k=10)
    assert fit.ndcg_by_weight[0.0] == pytest.approx(1 / np.log2(3))
    assert fit.ndcg_by_weight[1.0] == pytest.approx(1 / np.log2(3))
    assert fit.ndcg == pytest.approx(1.0)
    assert 0.0 < fit.weight < 1.0
    assert set(fit.ndcg_by_weight) == set(FUSION_GRID)


def test_tune_fusion_weight_prefers_the_first_stage_when_the_reranker_adds_nothing() -> None:
    first = [np.array([3.0, 2.0, 1.0])]
    second = [np.array([0.0, 1.0, 2.0])]  # exactly backwards
    fit = tune_fusion_weight(first, second, [np.array([1, 0, 0])], weights=(0.0, 0.5, 1.0))
    assert fit.weight == 0.0 and fit.ndcg == pytest.approx(1.0)
    assert fit.ndcg_by_weight[1.0] == pytest.approx(0.5)


def test_missed_relevant_documents_count_against_every_weight() -> None:
    fit = tune_fusion_weight([np.array([2.0, 1.0])], [np.array([2.0, 1.0])], [np.array([1, 0])], missed=[1])
    ideal = 1 + 1 / np.log2(3)
    assert fit.ndcg == pytest.approx((1 + 1 / np.log2(4)) / ideal)  # the missed one sits below both candidates


def test_tune_fusion_weight_names_the_query_whose_lists_disagree() -> None:
    with pytest.raises(ValueError, match="query 1: 2 first-stage scores, 3 re-ranker scores"):
        tune_fusion_weight([[1.0, 2.0], [1.0, 2.0]], [[1.0, 2.0], [1.0, 2.0, 3.0]], [[1, 0], [1, 0]])
    with pytest.raises(ValueError, match="one entry per query"):
        tune_fusion_weight([[1.0]], [[1.0]], [[1], [0]])
    with pytest.raises(ValueError, match="at least one query"):
        tune_fusion_weight([], [], [])
    with pytest.raises(ConfigError, match="-0.1"):
        tune_fusion_weight([[1.0]], [[1.0]], [[1]], weights=(-0.1,))


def test_fused_ndcg_matches_the_tuned_figure_of_the_same_weight() -> None:
    first = [np.array([1.0, 0.8, 0.0]), np.array([0.2, 0.9, 0.5])]
    second = [np.array([0.0, 0.8, 1.0]), np.array([1.0, 0.0, 0.5])]
    labels = [np.array([0, 1, 0]), np.array([1, 0, 0])]
    fit = tune_fusion_weight(first, second, labels, missed=[0, 2])
    for weight in (0.0, 0.35, 1.0):
        assert fused_ndcg(first, second, labels, weight, missed=[0, 2]) == fit.ndcg_by_weight[weight]
    with pytest.raises(ConfigError, match="1.2"):
        fused_ndcg(first, second, labels, 1.2)
