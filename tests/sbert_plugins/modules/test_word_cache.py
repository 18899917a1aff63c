"""The per-word cache of StaticEmbedding gives exactly the tokenizer's ids, truncation included."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from sbert_plugins.modules.word_cache import WordPieceCache

TEXTS = [
    "a man plays the guitar",
    "a\tman  plays\u00a0the guitar ",
    "  Héllo, WORLD! don't stop.",
    "中文 text with é\u0301 and a \u0301b",
    "a\x1cb \u200bcat",
    "[MASK] the [PAD] dog",
    "",
    "   ",
]


@pytest.fixture()
def backend(tiny_model_dir: Path) -> Tokenizer:
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tiny_model_dir)).backend_tokenizer
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _expected(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def test_cached_ids_equal_the_tokenizers(backend: Tokenizer) -> None:
    assert WordPieceCache.applies(backend)
    cache = WordPieceCache(backend)
    assert cache.token_ids(TEXTS) == _expected(backend, TEXTS)
    assert cache.token_ids(TEXTS[::-1]) == _expected(backend, TEXTS[::-1])  # from the warm cache


@pytest.mark.parametrize("direction", ["right", "left"])
def test_truncation_of_the_tokenizer_applies(backend: Tokenizer, direction: str) -> None:
    backend.enable_truncation(max_length=3, direction=direction)
    assert WordPieceCache(backend).token_ids(TEXTS) == _expected(backend, TEXTS)


def test_other_tokenizers_are_not_cached() -> None:
    tokenizer = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    assert not WordPieceCache.applies(tokenizer)
