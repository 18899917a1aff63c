"""WeightedLayerPooling: token embeddings as a learned weighted mean of the transformer's upper layers."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sbert_plugins.modules._files import config_value, load_weights, read_config, save_module


class WeightedLayerPooling(nn.Module):
    """Replaces ``token_embeddings`` with ``sum_l w_l * layer_l / sum_l w_l`` over hidden layers
    ``layer_start .. num_hidden_layers`` (the embedding layer is layer 0).

    It reads ``features["all_layer_embeddings"]``, which the Transformer adds when its config has
    ``output_hidden_states: true`` (as a folder saved with this module has); without it, the features pass
    through unchanged, as in the reference.

    Args:
        embedding_dimension: the size of the token embeddings.
        num_hidden_layers: the transformer's layer count.
        layer_start: the first layer in the mean.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.weighted_layer_pooling.WeightedLayerPooling"

    def __init__(self, embedding_dimension: int, num_hidden_layers: int = 12, layer_start: int = 4) -> None:
        super().__init__()
        self.embedding_dimension = embedding_dimension
        self.num_hidden_layers = num_hidden_layers
        self.layer_start = layer_start
        self.layer_weights = nn.Parameter(torch.ones(num_hidden_layers + 1 - layer_start))

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        layers = features.get("all_layer_embeddings")
        if layers is None:
            return features
        stacked = torch.stack(list(layers))[self.layer_start :]
        weights = self.layer_weights.view(-1, 1, 1, 1)
        features["token_embeddings"] = (weights * stacked).sum(dim=0) / self.layer_weights.sum()
        return features

    def save(self, path: Path) -> None:
        config = {
            "embedding_dimension": self.embedding_dimension,
            "layer_start": self.layer_start,
            "num_hidden_layers": self.num_hidden_layers,
        }
        save_module(self, path, config)

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> WeightedLayerPooling:
        config = read_config(path)
        source = path / "config.json"
        module = cls(
            int(config_value(config, "embedding_dimension", "word_embedding_dimension", source=source)),
            num_hidden_layers=int(config.get("num_hidden_layers", 12)),
            layer_start=int(config.get("layer_start", 4)),
        )
        module.load_state_dict(load_weights(path, allow_pickle=allow_pickle, owner="WeightedLayerPooling"))
        return module
