"""LayerNorm on the sentence embedding (a legacy sentence-transformers module)."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from sbert_plugins.modules._files import config_value, load_weights, read_config, save_module


class LayerNorm(nn.Module):
    """``nn.LayerNorm`` over ``features["sentence_embedding"]``.

    Args:
        dimension: the size of the sentence embedding.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.layer_norm.LayerNorm"

    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        self.norm = nn.LayerNorm(dimension)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features["sentence_embedding"] = self.norm(features["sentence_embedding"])
        return features

    def save(self, path: Path) -> None:
        save_module(self, path, {"dimension": self.dimension})

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> LayerNorm:
        config = read_config(path)
        module = cls(int(config_value(config, "dimension", source=path / "config.json")))
        module.load_state_dict(load_weights(path, allow_pickle=allow_pickle, owner="LayerNorm"))
        return module
