"""Length-sorted batching: caps, order, and where the padding-aware split cuts."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins import CrossEncoder, SentenceEncoder
from sbert_plugins.batching import (
    BF16_CPU_PASS_COST_TOKENS,
    CPU_PASS_COST_TOKENS,
    batches,
    length_sorted_order,
    pass_cost_tokens,
    restore_order,
)


def _split(lengths: list[int], **kwargs: int | None) -> list[list[int]]:
    order = length_sorted_order(lengths)
    return [[lengths[i] for i in batch] for batch in batches(order, lengths, **kwargs)]  # type: ignore[arg-type]


def _cost(split: list[list[int]], pass_cost: int) -> int:
    return sum(pass_cost + len(batch) * max(batch) for batch in split)


def test_without_a_pass_cost_batches_are_filled_to_their_bounds() -> None:
    lengths = [40] + [10] * 10
    assert [len(b) for b in _split(lengths, batch_size=4)] == [4, 4, 3]
    assert [len(b) for b in _split(lengths, batch_size=512, max_tokens=200)] == [5, 6]
    assert [len(b) for b in _split(lengths, batch_size=512)] == [11]


def test_a_pass_is_added_where_it_costs_less_than_the_padding_it_saves() -> None:
    lengths = [10] * 10 + [40]
    # Together: 11 x 40 padded tokens; apart: 40 + 10 x 10 and one pass more.
    assert _split(lengths, batch_size=512, pass_cost=48) == [[40], [10] * 10]
    assert _split(lengths, batch_size=512, pass_cost=1000) == [[40] + [10] * 10]


@pytest.mark.parametrize("seed", range(30))
def test_the_split_is_the_cheapest_one_when_the_bounds_do_not_bind(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([3, 5, 8, 9, 20, 21, 60]) for _ in range(rng.randint(1, 9))]
    pass_cost = rng.choice([1, 8, 48, 200])
    ordered = sorted(lengths, reverse=True)
    cheapest = min(
        _cost([ordered[a:b] for a, b in itertools.pairwise((0, *cuts, len(ordered)))], pass_cost)
        for k in range(len(ordered))
        for cuts in itertools.combinations(range(1, len(ordered)), k)
    )
    assert _cost(_split(lengths, batch_size=512, pass_cost=pass_cost), pass_cost) == cheapest


def test_a_full_batch_is_not_split_for_a_small_length_step() -> None:
    lengths = [11] * 10 + [10] * 54
    assert [len(b) for b in _split(lengths, batch_size=32, pass_cost=48)] == [32, 32]


@pytest.mark.parametrize("seed", range(20))
def test_the_split_never_costs_more_than_filling_the_batches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 80, size=int(rng.integers(1, 300))).tolist()
    bounds = {"batch_size": int(rng.integers(1, 64)), "max_tokens": int(rng.integers(64, 2048))}
    split = _split(lengths, **bounds, pass_cost=CPU_PASS_COST_TOKENS)
    assert _cost(split, CPU_PASS_COST_TOKENS) <= _cost(_split(lengths, **bounds), CPU_PASS_COST_TOKENS)


@pytest.mark.parametrize("seed", range(10))
def test_every_text_is_in_one_batch_within_the_bounds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 300, size=int(rng.integers(1, 400))).tolist()
    order = length_sorted_order(lengths)
    split = list(batches(order, lengths, batch_size=16, max_tokens=1024, pass_cost=CPU_PASS_COST_TOKENS))
    np.testing.assert_array_equal(np.concatenate(split), order)  # longest first, each index once
    for batch in split:
        assert 1 <= len(batch) <= 16
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 1024
    np.testing.assert_array_equal(order[restore_order(order)], np.arange(len(lengths)))


def test_only_a_cpu_pays_for_passes() -> None:
    assert pass_cost_tokens("cpu") == CPU_PASS_COST_TOKENS
    assert pass_cost_tokens("cpu", torch.bfloat16) == BF16_CPU_PASS_COST_TOKENS > CPU_PASS_COST_TOKENS
    assert pass_cost_tokens("cpu", torch.float16) == CPU_PASS_COST_TOKENS
    assert pass_cost_tokens("cuda") is None
    assert pass_cost_tokens("mps") is None


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_encoders_cut_by_the_pass_cost_of_their_weights(
    precision: str, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sbert_plugins.cross_encoder.model as cross_module
    import sbert_plugins.encoder as encoder_module

    asked: list[tuple[str, torch.dtype]] = []

    def spy(device_type: str, dtype: torch.dtype = torch.float32) -> int | None:
        asked.append((device_type, dtype))
        return pass_cost_tokens(device_type, dtype)

    monkeypatch.setattr(encoder_module, "pass_cost_tokens", spy)
    monkeypatch.setattr(cross_module, "pass_cost_tokens", spy)
    SentenceEncoder(tiny_model_dir, device="cpu", precision=precision).encode(["a text", "another one"])  # type: ignore[arg-type]
    CrossEncoder(tiny_model_dir, device="cpu", precision=precision).predict([("a", "b")])  # type: ignore[arg-type]
    expected = torch.bfloat16 if precision == "bf16" else torch.float32
    assert asked == [("cpu", expected), ("cpu", expected)]
