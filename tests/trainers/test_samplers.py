from __future__ import annotations

import pytest
import torch

from sbert_plugins.errors import ConfigError, DataError
from trainers import GroupByLabelBatchSampler, NoDuplicatesBatchSampler, RandomBatchSampler, load_dataset
from trainers.samplers import interleave, make_sampler


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_sampler_covers_every_row_once_and_is_reproducible() -> None:
    sampler = RandomBatchSampler(23, 5)
    batches = sampler.batches(_generator())
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert sorted(i for b in batches for i in b) == list(range(23))
    assert sampler.batches(_generator()) == batches
    assert sampler.batches(_generator(1)) != batches
    assert [len(b) for b in RandomBatchSampler(23, 5, drop_last=True).batches(_generator())] == [5, 5, 5, 5]


def test_no_duplicates_sampler_never_repeats_a_text_in_a_batch() -> None:
    # Many rows share anchors (a query with several relevant documents) and positives.
    rows = [(f"query {i % 7}", f"doc {i % 11}") for i in range(80)]
    sampler = NoDuplicatesBatchSampler(rows, 8)
    batches = sampler.batches(_generator())
    assert sorted(i for b in batches for i in b) == list(range(80))
    for batch in batches:
        texts = [t for i in batch for t in rows[i]]
        assert len(texts) == len(set(texts))
    assert max(len(b) for b in batches) == 7  # only 7 distinct queries, so no batch can be full


def test_no_duplicates_sampler_with_all_rows_equal_makes_batches_of_one() -> None:
    batches = NoDuplicatesBatchSampler([("same", "text")] * 4, 4).batches(_generator())
    assert batches == [[b[0]] for b in batches] and len(batches) == 4


def test_group_by_label_sampler_gives_each_label_at_least_two_rows_per_batch() -> None:
    labels = torch.tensor([i % 5 for i in range(41)] + [9])  # label 9 has a single row: never sampled
    sampler = GroupByLabelBatchSampler(labels, 8, samples_per_label=2)
    batches = sampler.batches(_generator())
    used = [i for b in batches for i in b]
    assert len(used) == len(set(used))
    assert 41 not in used
    for batch in batches:
        counts = torch.bincount(labels[batch])
        assert all(c == 0 or c >= 2 for c in counts.tolist())
    assert sum(len(b) for b in batches) == 40  # 8 or 9 rows per label, cut into pairs; a leftover single is dropped


def test_group_by_label_sampler_checks_its_input() -> None:
    with pytest.raises(ConfigError, match="multiple"):
        GroupByLabelBatchSampler(torch.tensor([0, 0, 1, 1]), 5, samples_per_label=2)
    with pytest.raises(DataError, match="integer class label"):
        GroupByLabelBatchSampler(torch.tensor([0.5, 0.5]), 2)
    with pytest.raises(DataError, match="at least two rows"):
        GroupByLabelBatchSampler(torch.tensor([0, 1, 2]), 2)


def test_make_sampler_needs_labels_for_group_by_label() -> None:
    dataset = load_dataset([{"text": "a"}, {"text": "b"}], name="unlabelled")
    with pytest.raises(DataError, match="'unlabelled'.*no labels"):
        make_sampler("group_by_label", dataset, 2)


def test_round_robin_alternates_until_the_smallest_dataset_runs_out() -> None:
    plan = interleave({"a": [[0], [1], [2]], "b": [[10]]}, "round_robin", _generator())
    assert plan == [("a", [0]), ("b", [10])]


def test_proportional_keeps_every_batch_and_each_dataset_in_order() -> None:
    batches = {"a": [[i] for i in range(30)], "b": [[100 + i] for i in range(10)]}
    plan = interleave(batches, "proportional", _generator())
    assert len(plan) == 40
    assert [rows for name, rows in plan if name == "a"] == batches["a"]
    assert [rows for name, rows in plan if name == "b"] == batches["b"]
    assert [name for name, _ in plan] != ["a"] * 30 + ["b"] * 10


def test_length_grouping_cuts_padding_and_keeps_every_row() -> None:
    lengths = [int(x) for x in torch.randint(3, 60, (400,), generator=_generator(5))]
    plain = RandomBatchSampler(400, 16).batches(_generator())
    grouped_sampler = RandomBatchSampler(400, 16, lengths=lengths, window=10)
    grouped = grouped_sampler.batches(_generator())
    assert grouped == grouped_sampler.batches(_generator())
    assert sorted(i for b in grouped for i in b) == list(range(400))

    def padded(batches: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded(grouped) < 0.75 * padded(plain)
    firsts = [max(lengths[i] for i in b) for b in grouped]
    assert firsts != sorted(firsts) and firsts != sorted(firsts, reverse=True)  # batch order stays random
