from __future__ import annotations

import random

import pytest
import torch

from sbert_plugins.errors import ConfigError
from trainers.finetune import mine_hard_negatives, split_queries
from trainers.finetune.mining import bi_encoder_rows, fill_negatives, title_rows


def test_split_is_seeded_disjoint_and_ordered() -> None:
    ids = [f"q{i}" for i in range(50)]
    train, dev = split_queries(ids, dev_ratio=0.2, dev_size=None, seed=7)
    assert len(dev) == 10 and len(train) == 40 and not set(train) & set(dev)
    assert dev == sorted(dev, key=ids.index)
    assert (train, dev) == split_queries(ids, dev_ratio=0.2, dev_size=None, seed=7)
    assert dev != split_queries(ids, dev_ratio=0.2, dev_size=None, seed=8)[1]
    assert len(split_queries(ids, dev_ratio=0.2, dev_size=3, seed=7)[1]) == 3


def test_split_needs_both_sides() -> None:
    with pytest.raises(ConfigError, match="leaves nothing"):
        split_queries(["a", "b"], dev_ratio=0.5, dev_size=2, seed=0)


def test_mining_skips_positives_top_ranks_and_near_positive_scores() -> None:
    # one query; documents 0..5; document 2 is the positive (score 0.8)
    scores = torch.tensor([[0.9, 0.85, 0.8, 0.7, 0.5, 0.1]])
    mined = mine_hard_negatives(scores, [[2]], num_negatives=2, skip_top=0, depth=6, margin=0.05)
    assert mined == [{2: [3, 4]}]  # 0 and 1 score above the positive - margin: likely unlabelled positives
    mined = mine_hard_negatives(scores, [[2]], num_negatives=2, skip_top=3, depth=6, margin=0.0)
    assert mined == [{2: [4, 5]}]  # ranks 0, 1, 3 skipped
    mined = mine_hard_negatives(scores, [[2]], num_negatives=5, skip_top=0, depth=4, margin=0.0)
    assert mined == [{2: [3, 4]}]  # only the first 4 non-positive ranks are candidates


def test_mining_keeps_each_positive_its_own_threshold() -> None:
    scores = torch.tensor([[0.9, 0.3, 0.6, 0.5, 0.2]])
    mined = mine_hard_negatives(scores, [[0, 1]], num_negatives=1, skip_top=0, depth=5, margin=0.0)
    assert mined == [{0: [2], 1: [4]}]


def test_fill_negatives_tops_up_with_random_documents() -> None:
    rng = random.Random(0)
    picked = fill_negatives(["b", "b", "a"], {"a"}, ["a", "b", "c", "d"], 3, rng)
    assert picked[0] == "b" and len(picked) == 3 and "a" not in picked and len(set(picked)) == 3
    assert fill_negatives([], {"a"}, ["a", "b"], 5, rng) == ["b"]


def test_rows_have_equal_columns_and_no_positive_as_negative() -> None:
    corpus = {f"d{i}": f"text {i}" for i in range(6)}
    queries = {"q1": "one", "q2": "two"}
    relevant = {"q1": ["d0", "d1"], "q2": ["d2"]}
    negatives = {"q1": {"d0": ["d3"], "d1": []}, "q2": {"d2": ["d0", "d4"]}}
    rows = bi_encoder_rows(["q1", "q2"], queries, corpus, relevant, negatives, num_negatives=2, seed=0)
    assert len(rows) == 3 and {len(r) for r in rows} == {4}
    assert rows[0]["negative_1"] == "text 3"
    for row in rows[:2]:
        assert {row["negative_1"], row["negative_2"]}.isdisjoint({"text 0", "text 1"})
    assert (rows[2]["negative_1"], rows[2]["negative_2"]) == ("text 0", "text 4")


def test_title_rows_pair_a_title_with_its_text_and_skip_documents_short_of_negatives() -> None:
    titled = {"d0": ("Cats", "cats purr"), "d1": ("Dogs", "dogs bark"), "d2": ("Cows", "cows moo")}
    mined = {"d0": ["d0", "d1", "d2"], "d1": ["d0"], "d2": ["untitled", "d1"]}
    rows = title_rows(["d0", "d1", "d2"], titled, mined, num_negatives=2)
    assert rows == [{"query": "Cats", "positive": "cats purr", "negative_1": "dogs bark", "negative_2": "cows moo"}]
    assert len(title_rows(["d0", "d1", "d2"], titled, mined, num_negatives=1)) == 3
