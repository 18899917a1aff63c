"""CNN: 1-D convolutions of several kernel sizes over the token embeddings (a legacy module)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sbert_plugins.modules._files import config_value, load_weights, read_config, save_module

CONFIG_FILE = "cnn_config.json"


class CNN(nn.Module):
    """Replaces ``token_embeddings`` with the concatenated outputs of one ``Conv1d`` per kernel size
    (padding ``(k - 1) // 2``; padding tokens are zeroed first).

    Args:
        in_embedding_dimension: the size of the incoming token embeddings.
        out_channels: channels per kernel size; the output size is ``out_channels * len(kernel_sizes)``.
        kernel_sizes: one convolution per size.
        stride_sizes: the stride of each convolution (default: 1 each).
    """

    st_type = "sentence_transformers.sentence_transformer.modules.cnn.CNN"

    def __init__(
        self,
        in_embedding_dimension: int,
        out_channels: int = 256,
        kernel_sizes: tuple[int, ...] | list[int] = (1, 3, 5),
        stride_sizes: tuple[int, ...] | list[int] | None = None,
    ) -> None:
        super().__init__()
        self.in_embedding_dimension = in_embedding_dimension
        self.out_channels = out_channels
        self.kernel_sizes = list(kernel_sizes)
        self.stride_sizes = list(stride_sizes) if stride_sizes is not None else [1] * len(self.kernel_sizes)
        self.convs = nn.ModuleList(
            nn.Conv1d(in_embedding_dimension, out_channels, kernel_size=k, stride=s, padding=(k - 1) // 2)
            for k, s in zip(self.kernel_sizes, self.stride_sizes, strict=True)
        )

    @property
    def output_dim(self) -> int:
        return self.out_channels * len(self.kernel_sizes)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        tokens = features["token_embeddings"]
        if "attention_mask" in features:
            tokens = tokens.masked_fill(features["attention_mask"].unsqueeze(-1) == 0, 0)
        channels_first = tokens.transpose(1, -1)
        features["token_embeddings"] = torch.cat([conv(channels_first) for conv in self.convs], 1).transpose(1, -1)
        return features

    def save(self, path: Path) -> None:
        config = {
            "in_embedding_dimension": self.in_embedding_dimension,
            "out_channels": self.out_channels,
            "kernel_sizes": self.kernel_sizes,
            "stride_sizes": self.stride_sizes,
        }
        save_module(self, path, config, config_name=CONFIG_FILE)

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> CNN:
        config = read_config(path, CONFIG_FILE)
        source = path / CONFIG_FILE
        module = cls(
            int(config_value(config, "in_embedding_dimension", "in_word_embedding_dimension", source=source)),
            out_channels=int(config.get("out_channels", 256)),
            kernel_sizes=[int(k) for k in config.get("kernel_sizes", [1, 3, 5])],
            stride_sizes=config.get("stride_sizes"),
        )
        module.load_state_dict(load_weights(path, allow_pickle=allow_pickle, owner="CNN"))
        return module
