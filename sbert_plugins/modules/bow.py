"""BoW: a bag-of-words vector per text (optionally tf-idf weighted), the input module of legacy models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sbert_plugins.modules._files import read_config, save_module
from sbert_plugins.modules.padding import pad_rows
from sbert_plugins.modules.word_tokenizer import WhitespaceTokenizer


class BoW(nn.Module):
    """``sentence_embedding[word] = weight(word) * count`` (or ``weight(word)`` once, without
    ``cumulative_term_frequency``); the vector has one entry per vocabulary word and no trained weights.

    Args:
        vocab: the words (duplicates dropped, first kept).
        word_weights: word → weight (e.g. IDF); others get ``unknown_word_weight``.
        cumulative_term_frequency: count repeated words (True) or mark presence only.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.bow.BoW"
    save_in_root = False  # the reference writes it to "0_BoW/", not the model folder's root

    def __init__(
        self,
        vocab: list[str],
        word_weights: dict[str, float] | None = None,
        unknown_word_weight: float = 1.0,
        cumulative_term_frequency: bool = True,
    ) -> None:
        super().__init__()
        self.vocab = list(dict.fromkeys(vocab))
        self.word_weights = dict(word_weights or {})
        self.unknown_word_weight = unknown_word_weight
        self.cumulative_term_frequency = cumulative_term_frequency
        weights = [self.word_weights.get(w, self.word_weights.get(w.lower(), unknown_word_weight)) for w in self.vocab]
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.tokenizer = WhitespaceTokenizer(self.vocab)
        self.max_seq_length: int | None = None

    @property
    def embedding_dim(self) -> int:
        return len(self.vocab)

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        return [self.tokenizer.tokenize(text) for text in texts]

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        input_ids, attention_mask = pad_rows(ids, pad_id=0)
        return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        return self.collate(self.token_ids(texts))

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        ids, mask = features["input_ids"], features["attention_mask"].bool()
        rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand_as(ids)[mask]
        words = ids[mask]
        vectors = torch.zeros(ids.shape[0], len(self.vocab), device=ids.device)
        values = self.get_buffer("weights")[words]
        if self.cumulative_term_frequency:
            vectors.index_put_((rows, words), values, accumulate=True)
        else:
            vectors[rows, words] = values
        features["sentence_embedding"] = vectors
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "vocab": self.vocab,
            "word_weights": self.word_weights,
            "unknown_word_weight": self.unknown_word_weight,
            "cumulative_term_frequency": self.cumulative_term_frequency,
        }

    def save(self, path: Path) -> None:
        save_module(self, path, self.get_config_dict())

    @classmethod
    def load(cls, path: Path) -> BoW:
        config = read_config(path)
        return cls(
            list(config.get("vocab", [])),
            dict(config.get("word_weights", {})),
            float(config.get("unknown_word_weight", 1.0)),
            bool(config.get("cumulative_term_frequency", True)),
        )
