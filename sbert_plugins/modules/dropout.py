"""Dropout on the sentence embedding during training (a legacy sentence-transformers module)."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from sbert_plugins.errors import ConfigError
from sbert_plugins.modules._files import read_config, save_module


class Dropout(nn.Module):
    """``nn.Dropout(dropout)`` on ``features["sentence_embedding"]``; the identity in eval mode (encoding).

    Args:
        dropout: the probability of zeroing an element, in [0, 1).

    Raises:
        ConfigError: ``dropout`` outside [0, 1).
    """

    st_type = "sentence_transformers.sentence_transformer.modules.dropout.Dropout"

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ConfigError(f"Dropout probability must lie in [0, 1), found {dropout!r}")
        self.dropout = dropout
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features["sentence_embedding"] = self.dropout_layer(features["sentence_embedding"])
        return features

    def save(self, path: Path) -> None:
        save_module(self, path, {"dropout": self.dropout})

    @classmethod
    def load(cls, path: Path) -> Dropout:
        return cls(float(read_config(path).get("dropout", 0.2)))
