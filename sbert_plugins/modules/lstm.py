"""LSTM over the token embeddings (a legacy sentence-transformers module)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sbert_plugins.modules._files import config_value, load_weights, read_config, save_module

CONFIG_FILE = "lstm_config.json"


class LSTM(nn.Module):
    """Replaces ``token_embeddings`` with an LSTM's outputs (bidirectional by default), run over each
    text's real tokens only (``sentence_lengths``, else the attention mask's row sums).

    Args:
        embedding_dimension: the size of the incoming token embeddings.
        hidden_dim: the LSTM's hidden size; the output size is twice this when bidirectional.
        num_layers, dropout, bidirectional: as in ``nn.LSTM``.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.lstm.LSTM"

    def __init__(
        self,
        embedding_dimension: int,
        hidden_dim: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        self.embedding_dimension = embedding_dimension
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.encoder = nn.LSTM(
            embedding_dimension,
            hidden_dim,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            batch_first=True,
        )

    @property
    def output_dim(self) -> int:
        return self.hidden_dim * (2 if self.bidirectional else 1)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        tokens = features["token_embeddings"]
        lengths = features.get("sentence_lengths")
        if lengths is None:
            lengths = features["attention_mask"].sum(dim=1)
        packed = nn.utils.rnn.pack_padded_sequence(
            tokens, torch.clamp(lengths, min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        output = self.encoder(packed)[0]
        features["token_embeddings"] = nn.utils.rnn.pad_packed_sequence(
            output, batch_first=True, total_length=tokens.size(1)
        )[0]
        return features

    def save(self, path: Path) -> None:
        config = {
            "embedding_dimension": self.embedding_dimension,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "bidirectional": self.bidirectional,
        }
        save_module(self, path, config, config_name=CONFIG_FILE)

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> LSTM:
        config = read_config(path, CONFIG_FILE)
        source = path / CONFIG_FILE
        module = cls(
            int(config_value(config, "embedding_dimension", "word_embedding_dimension", source=source)),
            int(config_value(config, "hidden_dim", source=source)),
            num_layers=int(config.get("num_layers", 1)),
            dropout=float(config.get("dropout", 0.0)),
            bidirectional=bool(config.get("bidirectional", True)),
        )
        module.load_state_dict(load_weights(path, allow_pickle=allow_pickle, owner="LSTM"))
        return module
