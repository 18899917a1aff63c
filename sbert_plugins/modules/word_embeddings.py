"""WordEmbeddings: one fixed vector per word (GloVe-style), the input module of legacy models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from sbert_plugins.modules._files import load_weights, read_config, save_module
from sbert_plugins.modules.padding import pad_rows
from sbert_plugins.modules.word_tokenizer import ST_CLASS, WhitespaceTokenizer, check_tokenizer_class

CONFIG_FILE = "wordembedding_config.json"


class WordEmbeddings(nn.Module):
    """Looks up each word's vector: ``token_embeddings`` for the Pooling, CNN or LSTM that follows.

    Args:
        tokenizer: a :class:`WhitespaceTokenizer` whose vocabulary indexes ``embedding_weights``.
        embedding_weights: ``(vocabulary, dim)`` vectors (row 0 is usually the padding token).
        update_embeddings: train the vectors too (they are frozen by default).
        max_seq_length: keep at most this many words of a text.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.word_embeddings.WordEmbeddings"

    def __init__(
        self,
        tokenizer: WhitespaceTokenizer,
        embedding_weights: Tensor | np.ndarray,
        *,
        update_embeddings: bool = False,
        max_seq_length: int = 1_000_000,
    ) -> None:
        super().__init__()
        weights = torch.as_tensor(embedding_weights, dtype=torch.float32)
        self.emb_layer = nn.Embedding.from_pretrained(weights, freeze=not update_embeddings)
        self.tokenizer = tokenizer
        self.update_embeddings = update_embeddings
        self.max_seq_length: int | None = max_seq_length

    @property
    def embedding_dim(self) -> int:
        return int(self.emb_layer.embedding_dim)

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        """Word ids of each text, cut to ``max_seq_length`` words when ``truncate``."""
        limit = self.max_seq_length if truncate else None
        return [self.tokenizer.tokenize(text)[:limit] for text in texts]

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """``input_ids``, ``attention_mask`` (at least one column, as the reference pads) and ``sentence_lengths``."""
        input_ids, attention_mask = pad_rows(ids or [[]], pad_id=0)
        if input_ids.shape[1] == 0:
            input_ids, attention_mask = input_ids.new_zeros((len(ids), 1)), attention_mask.new_zeros((len(ids), 1))
        lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
        return {
            "input_ids": input_ids.to(device),
            "attention_mask": attention_mask.to(device),
            "sentence_lengths": lengths.to(device),
        }

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        return self.collate(self.token_ids(texts))

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features["token_embeddings"] = self.emb_layer(features["input_ids"])
        return features

    def save(self, path: Path) -> None:
        config = {
            "tokenizer_class": ST_CLASS,
            "update_embeddings": self.update_embeddings,
            "max_seq_length": self.max_seq_length,
        }
        save_module(self, path, config, config_name=CONFIG_FILE)
        self.tokenizer.save(path)

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> WordEmbeddings:
        config = read_config(path, CONFIG_FILE)
        check_tokenizer_class(config.get("tokenizer_class"), path / CONFIG_FILE)
        weights = load_weights(path, allow_pickle=allow_pickle, owner="WordEmbeddings")["emb_layer.weight"]
        return cls(
            WhitespaceTokenizer.load(path),
            weights,
            update_embeddings=bool(config.get("update_embeddings", False)),
            max_seq_length=int(config.get("max_seq_length", 1_000_000)),
        )
