"""SpladePooling: per-token vocabulary logits → one sparse weight per vocabulary entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from sbert_plugins._jsonio import write_json
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules._files import read_config

SpladePoolingStrategy = Literal["max", "sum"]
SpladeActivation = Literal["relu", "log1p_relu"]
POOLING_STRATEGIES: tuple[str, ...] = get_args(SpladePoolingStrategy)
ACTIVATIONS: tuple[str, ...] = get_args(SpladeActivation)
CONFIG_FILE = "config.json"


class SpladePooling(nn.Module):
    """Pools MLM logits (``features["token_embeddings"]``, ``[batch, tokens, vocab]``) into
    ``sentence_embedding`` (``[batch, vocab]``): ``log(1 + relu(logit))`` per token (``log1p_relu`` applies
    ``log1p`` once more), padding masked out, then the maximum (SPLADE v2 and later) or the sum (SPLADE v1)
    over the tokens.

    Args:
        pooling_strategy: ``"max"`` or ``"sum"``.
        activation_function: ``"relu"`` or ``"log1p_relu"`` (OpenSearch's SPLADE models).
        embedding_dimension: the vocabulary size, when known (recorded in the config).

    Raises:
        ConfigError: an unknown strategy or activation.
    """

    st_type = "sentence_transformers.sparse_encoder.models.SpladePooling"

    def __init__(
        self,
        pooling_strategy: SpladePoolingStrategy = "max",
        activation_function: SpladeActivation = "relu",
        embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        if pooling_strategy not in POOLING_STRATEGIES:
            raise ConfigError(f"SpladePooling pooling_strategy {pooling_strategy!r} is not one of {POOLING_STRATEGIES}")
        if activation_function not in ACTIVATIONS:
            raise ConfigError(f"SpladePooling activation_function {activation_function!r} is not one of {ACTIVATIONS}")
        if embedding_dimension is not None and (not isinstance(embedding_dimension, int) or embedding_dimension <= 0):
            raise ConfigError(
                f"SpladePooling embedding_dimension must be a positive integer, found {embedding_dimension!r}"
            )
        self.pooling_strategy: SpladePoolingStrategy = pooling_strategy
        self.activation_function: SpladeActivation = activation_function
        self.embedding_dimension = embedding_dimension

    @property
    def output_dim(self) -> int | None:
        """The vocabulary size when recorded; None lets the MLM model's vocabulary size stand."""
        return self.embedding_dimension

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Set ``sentence_embedding`` from ``token_embeddings`` and ``attention_mask``."""
        logits = features["token_embeddings"]
        mask = features["attention_mask"].unsqueeze(-1).to(logits.dtype)
        weights = logits * mask
        if torch.is_grad_enabled():
            weights = torch.log1p(torch.relu(weights))
            if self.activation_function == "log1p_relu":
                weights = torch.log1p(weights)
        else:  # [batch, tokens, vocab] is the largest tensor of an encode: no more copies of it
            weights = weights.relu_().log1p_()
            if self.activation_function == "log1p_relu":
                weights = weights.log1p_()
        pooled = weights.amax(dim=1) if self.pooling_strategy == "max" else weights.sum(dim=1)
        features["sentence_embedding"] = pooled
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "pooling_strategy": self.pooling_strategy,
            "activation_function": self.activation_function,
            "embedding_dimension": self.embedding_dimension,
        }

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / CONFIG_FILE, self.get_config_dict())

    @classmethod
    def load(cls, path: Path) -> SpladePooling:
        """Read ``config.json`` (``word_embedding_dimension``, the name before sentence-transformers 6, too).

        Raises:
            ConfigError: the file is missing or holds an unknown strategy or activation.
        """
        config = read_config(path, CONFIG_FILE)
        dimension = config.get("embedding_dimension", config.get("word_embedding_dimension"))
        try:
            return cls(
                config.get("pooling_strategy", "max"),
                config.get("activation_function", "relu"),
                dimension,
            )
        except ConfigError as exc:
            raise ConfigError(f"{path / CONFIG_FILE}: {exc}") from exc
