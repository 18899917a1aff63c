"""The stack comparison on hand-made rankings: fused first stages, the choice by validation nDCG@10 (the simpler
stack on ties), and re-ranked stacks with their own tuned weights."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sbert_plugins.bm25 import BM25Index
from trainers.finetune.stacks import bm25_rankings, compare_stacks, first_stages

RELEVANT = {"v1": ["a"], "v2": ["b"], "d1": ["c"], "d2": ["a"]}
DENSE = {"v1": ["x", "a", "b"], "v2": ["b", "x", "a"], "d1": ["c", "x", "a"], "d2": ["x", "y", "a"]}
BM25 = {"v1": ["a", "x"], "v2": ["y", "b"], "d1": ["x", "c"], "d2": ["a"]}


def test_first_stages_fuse_dense_first_and_settle_ties_by_simplicity() -> None:
    stages = first_stages(DENSE, BM25, None, depth=3)
    assert list(stages) == ["dense", "bm25", "dense+bm25"]
    assert stages["dense+bm25"]["v1"] == ["x", "a", "b"]  # x and a tie at 1/2 + 1/3: x is met first (dense)
    result = compare_stacks(stages, RELEVANT, ["v1", "v2"], ["d1", "d2"], top_k=2)
    validation = {name: r["validation"]["ndcg@10"] for name, r in result["stacks"].items()}
    assert result["chosen"] == max(validation, key=lambda n: (validation[n], -list(validation).index(n)))
    assert result["fusion_weight"] is None and set(result["stacks"]) == set(stages)
    tied = compare_stacks({"dense": DENSE, "bm25": DENSE}, RELEVANT, ["v1", "v2"], ["d1"], top_k=2)
    assert tied["chosen"] == "dense"


def test_a_reranker_that_knows_the_answers_wins_with_its_own_weight() -> None:
    stages = first_stages(DENSE, BM25, None, depth=3)

    def oracle(pairs: list[tuple[str, str]]) -> Mapping[tuple[str, str], float]:
        return {(q, d): float(d in RELEVANT[q]) for q, d in pairs}

    def flat(pairs: list[tuple[str, str]]) -> Mapping[tuple[str, str], float]:
        return dict.fromkeys(pairs, 0.5)

    result = compare_stacks(
        stages, RELEVANT, ["v1", "v2"], ["d1", "d2"], top_k=3, dense_scores=flat, reranker_scores=oracle
    )
    assert set(result["stacks"]) == set(stages) | {f"{n}+reranker" for n in stages}
    assert result["chosen"] == "dense+reranker" and result["first_stage"] == "dense"
    assert result["fusion_weight"] == pytest.approx(0.05)  # the smallest weight that lets the oracle decide
    assert result["stacks"]["dense+reranker"]["dev"]["ndcg@10"] == pytest.approx(1.0)


def test_bm25_rankings_leave_out_documents_without_a_shared_term() -> None:
    ids = ["d1", "d2", "d3"]
    index = BM25Index(["cats purr loudly", "dogs bark", "cats and dogs"])
    rankings = bm25_rankings(index, ids, {"q": "cats"}, depth=3)
    assert rankings["q"] == ["d1", "d3"] or rankings["q"] == ["d3", "d1"]
    assert "d2" not in rankings["q"]
