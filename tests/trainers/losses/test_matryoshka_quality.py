"""After Matryoshka training, truncated embeddings keep more STS quality than the same truncation without it.

A synthetic STS task the tiny model can learn in seconds: eight topics, each a share of the tiny vocabulary's
content words. Training pairs are two sentences of one topic (MultipleNegativesRankingLoss). Evaluation pairs
mix two topics in varying proportions; the gold score is the cosine of the two sentences' topic-count
vectors, and quality is the Spearman correlation of the model's cosine with it (as in STS benchmarks).
Both runs start from the same weights and see the same batches; only the loss differs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation.metrics import spearman
from tests.conftest import _WORDS, build_tiny_modules
from trainers.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

FUNCTION_WORDS = {"a", "an", "the", "is", "are", "was", "be", "to", "of", "and", "in", "on", "at", "for", "with", "by"}
CONTENT = sorted(set(_WORDS) - FUNCTION_WORDS)
TOPICS = [CONTENT[i::8] for i in range(8)]
WORDS_PER_SENTENCE = 6


def _sentence(rng: random.Random, counts: dict[int, int]) -> str:
    words = [rng.choice(TOPICS[topic]) for topic, count in counts.items() for _ in range(count)]
    rng.shuffle(words)
    return " ".join(words)


def _training_batches(steps: int, batch_size: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(0)
    batches = []
    for _ in range(steps):
        topics = [rng.randrange(len(TOPICS)) for _ in range(batch_size)]
        anchors = [_sentence(rng, {t: WORDS_PER_SENTENCE}) for t in topics]
        positives = [_sentence(rng, {t: WORDS_PER_SENTENCE}) for t in topics]
        batches.append((anchors, positives))
    return batches


def _sts_pairs(count: int) -> tuple[list[str], list[str], list[float]]:
    rng = random.Random(99)
    first, second, gold = [], [], []
    for _ in range(count):
        t1, t2 = rng.sample(range(len(TOPICS)), 2)
        k1, k2 = rng.randint(0, WORDS_PER_SENTENCE), rng.randint(0, WORDS_PER_SENTENCE)
        first.append(_sentence(rng, {t1: WORDS_PER_SENTENCE - k1, t2: k1}))
        second.append(_sentence(rng, {t1: WORDS_PER_SENTENCE - k2, t2: k2}))
        mix1 = torch.tensor([WORDS_PER_SENTENCE - k1, k1], dtype=torch.float)
        mix2 = torch.tensor([WORDS_PER_SENTENCE - k2, k2], dtype=torch.float)
        gold.append(float(F.cosine_similarity(mix1, mix2, dim=0)))
    return first, second, gold


def _train(folder: Path, matryoshka: bool) -> SentenceEncoder:
    model = SentenceEncoder(modules=build_tiny_modules(folder, seed=0), device="cpu").train()
    inner = MultipleNegativesRankingLoss(model)
    loss = MatryoshkaLoss(model, inner, matryoshka_dims=[32, 8, 4]) if matryoshka else inner
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    torch.manual_seed(0)
    for anchors, positives in _training_batches(steps=40, batch_size=32):
        loss([model.tokenize(anchors), model.tokenize(positives)]).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model.eval()


def _sts_spearman(model: SentenceEncoder, dim: int) -> float:
    first, second, gold = _sts_pairs(300)
    a = model.encode(first, convert_to="torch", truncate_dim=dim)
    b = model.encode(second, convert_to="torch", truncate_dim=dim)
    return spearman(F.cosine_similarity(a, b).numpy(), gold)


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """The tiny model's operations are too small to gain from threads, and on a busy machine they lose a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_truncated_embeddings_keep_more_sts_quality_after_matryoshka_training(tmp_path: Path) -> None:
    plain = _train(tmp_path / "plain", matryoshka=False)
    nested = _train(tmp_path / "matryoshka", matryoshka=True)
    scores = {
        (name, dim): _sts_spearman(m, dim) for name, m in (("plain", plain), ("mrl", nested)) for dim in (32, 8, 4)
    }
    print({key: round(value, 3) for key, value in scores.items()})  # shown with pytest -s
    # 4 and 8 of 32 dimensions (1/8 and 1/4 of the width): clearly better with Matryoshka training...
    assert scores[("mrl", 4)] > scores[("plain", 4)] + 0.05
    assert scores[("mrl", 8)] > scores[("plain", 8)] + 0.02
    # ... while the full embedding is about as good, and both runs did learn the task.
    assert scores[("mrl", 32)] > scores[("plain", 32)] - 0.05
    assert scores[("plain", 32)] > 0.85
