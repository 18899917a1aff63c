"""Text pairs: checking them, turning them into token ids (truncated like the reference library does)
and padding a batch of token ids into model inputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

Pair = tuple[str, str]


def check_pairs(pairs: Iterable[Any]) -> list[Pair]:
    """Return ``pairs`` as a list of ``(str, str)`` tuples.

    Raises:
        TypeError: ``pairs`` is a string or mapping, or an element is not a pair of two strings (the
            message names its index).
    """
    if pairs is None or isinstance(pairs, (str, bytes, dict)):
        raise TypeError(
            f"expected a sequence of (str, str) pairs, found {type(pairs).__name__}; "
            "to score one pair pass [(first, second)]"
        )
    result: list[Pair] = []
    for index, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes, dict)) or not (hasattr(pair, "__len__") and hasattr(pair, "__getitem__")):
            raise TypeError(
                f"pair at index {index} is {type(pair).__name__}, expected a (str, str) pair; "
                "to score one pair pass [(first, second)]"
            )
        items = list(pair)
        if len(items) != 2:
            raise TypeError(f"pair at index {index} has {len(items)} elements, expected 2 strings")
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(
                    f"pair at index {index} has a {type(item).__name__} at position {position}, expected str"
                )
        result.append((str(items[0]), str(items[1])))
    return result


@dataclass(frozen=True)
class EncodedPairs:
    """Token ids of each pair (special tokens included, no padding) and how many pairs were truncated."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    truncated: int


class PairTokenizer:
    """Tokenizes text pairs with a Hugging Face tokenizer and pads batches of them.

    Pairs longer than ``max_length`` tokens are cut with the ``longest_first`` strategy (tokens are
    taken from the longer text first), as the reference library does, so scores agree with it.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.uses_token_types = "token_type_ids" in tokenizer.model_input_names

    def min_length(self) -> int:
        """The smallest ``max_length`` that leaves room for a token of each text besides special tokens."""
        return int(self.tokenizer.num_special_tokens_to_add(pair=True)) + 2

    def encode(self, pairs: list[Pair], max_length: int) -> EncodedPairs:
        """Token ids of ``pairs``, each at most ``max_length`` long."""
        if not pairs:
            return EncodedPairs([], [] if self.uses_token_types else None, 0)
        full = self._call(pairs, None)
        input_ids: list[list[int]] = list(full["input_ids"])
        token_types: list[list[int]] | None = list(full["token_type_ids"]) if self.uses_token_types else None
        # Tokenize everything once without truncation (that also counts the over-long pairs), then
        # tokenize again only the pairs that need cutting.
        long = [i for i, row in enumerate(input_ids) if len(row) > max_length]
        if long:
            cut = self._call([pairs[i] for i in long], max_length)
            for j, i in enumerate(long):
                input_ids[i] = cut["input_ids"][j]
                if token_types is not None:
                    token_types[i] = cut["token_type_ids"][j]
        return EncodedPairs(input_ids, token_types, len(long))

    def _call(self, pairs: list[Pair], max_length: int | None) -> Any:
        return self.tokenizer(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            truncation="longest_first" if max_length is not None else False,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=self.uses_token_types,
            verbose=False,
        )

    def collate(self, encoded: EncodedPairs, rows: Sequence[int]) -> dict[str, Tensor]:
        """Pad the pairs at ``rows`` of ``encoded`` into ``input_ids``, ``attention_mask`` (+ ``token_type_ids``)."""
        ids = [encoded.input_ids[i] for i in rows]
        longest = max((len(row) for row in ids), default=0)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        left = self.tokenizer.padding_side == "left"

        def pad(row: list[int], value: int) -> list[int]:
            filler = [value] * (longest - len(row))
            return filler + row if left else row + filler

        features = {
            "input_ids": torch.tensor([pad(row, pad_id) for row in ids], dtype=torch.long),
            "attention_mask": torch.tensor([pad([1] * len(row), 0) for row in ids], dtype=torch.long),
        }
        if encoded.token_type_ids is not None:
            pad_type = int(getattr(self.tokenizer, "pad_token_type_id", 0) or 0)
            types = [pad(encoded.token_type_ids[i], pad_type) for i in rows]
            features["token_type_ids"] = torch.tensor(types, dtype=torch.long)
        return features
