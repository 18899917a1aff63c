"""A per-word cache in front of a WordPiece tokenizer, for models whose forward pass costs less than
tokenizing (StaticEmbedding): each distinct space-separated chunk is tokenized once.

It is used only where encoding chunk by chunk gives exactly the ids of encoding the whole text: a
``BertNormalizer`` (or none), which maps characters one by one and keeps spaces; a ``BertPreTokenizer``,
for which a space always ends a word; the ``WordPiece`` model, which reads one word at a time; and no added
token containing a space. The tokenizer's own truncation (``tokenizer.json``) is applied to the joined ids.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

from tokenizers import Tokenizer

MAX_CACHED_WORDS = 500_000


class WordPieceCache:
    """Token ids of texts, word by word from a cache; :meth:`applies` says whether the tokenizer allows it."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.words: dict[str, list[int]] = {}

    @staticmethod
    def applies(tokenizer: Tokenizer) -> bool:
        """Whether chunk-wise encoding equals whole-text encoding for ``tokenizer`` (see the module docstring)."""
        spec: dict[str, Any] = json.loads(tokenizer.to_str())
        normalizer, pre_tokenizer, model = spec.get("normalizer"), spec.get("pre_tokenizer"), spec.get("model") or {}
        spaced = any(" " in token.get("content", "") for token in spec.get("added_tokens") or [])
        return (
            (normalizer is None or normalizer.get("type") == "BertNormalizer")
            and (pre_tokenizer or {}).get("type") == "BertPreTokenizer"
            and model.get("type") == "WordPiece"
            and not spaced
        )

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids ``tokenizer.encode_batch(texts, add_special_tokens=False)`` gives, truncation included."""
        rows = [[word for word in text.split(" ") if word] for text in texts]
        words = self.words
        missing = list({word for row in rows for word in row if word not in words})
        if len(words) + len(missing) > MAX_CACHED_WORDS:
            words.clear()
            missing = list({word for row in rows for word in row})
        for word, encoding in zip(missing, self.tokenizer.encode_batch(missing, add_special_tokens=False), strict=True):
            words[word] = encoding.ids
        ids = [list(chain.from_iterable(map(words.__getitem__, row))) for row in rows]
        truncation = self.tokenizer.truncation
        if truncation:
            limit = int(truncation["max_length"])
            keep_left = truncation.get("direction", "right") == "right"
            ids = [row if len(row) <= limit else (row[:limit] if keep_left else row[-limit:]) for row in ids]
        return ids
