"""WordWeights: scale each token embedding by a per-word weight (e.g. IDF), a legacy module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sbert_plugins.modules._files import config_value, load_weights, read_config, save_module


class WordWeights(nn.Module):
    """Multiplies each token embedding by its word's weight and records ``token_weights_sum`` per text, which
    a following mean :class:`~sbert_plugins.modules.Pooling` divides by (a weighted mean).

    Args:
        vocab: the tokenizer's vocabulary, in id order.
        word_weights: word → weight; a word absent here (also in lower case) gets ``unknown_word_weight``.
        unknown_word_weight: the weight of words without one.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.word_weights.WordWeights"

    def __init__(self, vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float = 1.0) -> None:
        super().__init__()
        self.vocab = list(vocab)
        self.word_weights = dict(word_weights)
        self.unknown_word_weight = unknown_word_weight
        weights = [word_weights.get(w, word_weights.get(w.lower(), unknown_word_weight)) for w in self.vocab]
        self.emb_layer = nn.Embedding(len(self.vocab), 1)
        self.emb_layer.load_state_dict({"weight": torch.tensor(weights, dtype=torch.float32).unsqueeze(1)})

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        weights = self.emb_layer(features["input_ids"]).squeeze(-1) * features["attention_mask"].float()
        features["token_embeddings"] = features["token_embeddings"] * weights.unsqueeze(-1)
        features["token_weights_sum"] = weights.sum(dim=1)
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "word_weights": self.word_weights, "unknown_word_weight": self.unknown_word_weight}

    def save(self, path: Path) -> None:
        save_module(self, path, self.get_config_dict())

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> WordWeights:
        config = read_config(path)
        source = path / "config.json"
        module = cls(
            list(config_value(config, "vocab", source=source)),
            dict(config_value(config, "word_weights", source=source)),
            float(config.get("unknown_word_weight", 1.0)),
        )
        module.load_state_dict(load_weights(path, allow_pickle=allow_pickle, owner="WordWeights"))
        return module
