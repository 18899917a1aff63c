"""Pooling: turn token embeddings into one sentence embedding (``1_Pooling/`` in a model folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins.errors import ConfigError

PoolingMode = Literal["cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
POOLING_MODES: tuple[str, ...] = get_args(PoolingMode)

# The boolean keys of the classic config format, which every sentence-transformers release reads.
_LEGACY_KEYS: dict[str, str] = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


class Pooling(nn.Module):
    """Pools ``features["token_embeddings"]`` over the attention mask into ``sentence_embedding``.

    Args:
        embedding_dim: size of each token embedding.
        modes: one mode or several (their results are concatenated, in the order given):
            ``cls`` (first token), ``mean``, ``max``, ``mean_sqrt_len_tokens`` (sum / sqrt(length)),
            ``weightedmean`` (position-weighted mean), ``lasttoken`` (last non-padding token).
        include_prompt: when False, the ``prompt_length`` first tokens are left out of the pooling.
    """

    st_type = "sentence_transformers.models.Pooling"

    def __init__(
        self, embedding_dim: int, modes: PoolingMode | tuple[PoolingMode, ...] = "mean", *, include_prompt: bool = True
    ) -> None:
        super().__init__()
        self.modes: tuple[str, ...] = (modes,) if isinstance(modes, str) else tuple(modes)
        unknown = [m for m in self.modes if m not in POOLING_MODES]
        if unknown or not self.modes:
            raise ConfigError(f"unknown pooling mode(s) {unknown or self.modes!r}; valid modes: {POOLING_MODES}")
        self.embedding_dim = embedding_dim
        self.include_prompt = include_prompt

    @property
    def output_dim(self) -> int:
        return self.embedding_dim * len(self.modes)

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        tokens = features["token_embeddings"]
        mask = features["attention_mask"]
        prompt_length = features.get("prompt_length")
        if not self.include_prompt and prompt_length is not None:
            mask = _without_prompt(mask, int(prompt_length))
        weights_sum = features.get("token_weights_sum")  # set by WordWeights: the mean becomes a weighted mean
        features["sentence_embedding"] = torch.cat(
            [self._pool(mode, tokens, mask, weights_sum) for mode in self.modes], dim=-1
        )
        return features

    @staticmethod
    def _pool(mode: str, tokens: Tensor, mask: Tensor, weights_sum: Tensor | None = None) -> Tensor:
        # Sums run in float32 even when the transformer ran in half precision.
        acc = torch.float32 if tokens.dtype in (torch.float16, torch.bfloat16) else tokens.dtype
        weights = mask.unsqueeze(-1).to(acc)
        if mode == "cls":
            first = mask.to(torch.int32).argmax(dim=1)
            return tokens[torch.arange(tokens.size(0), device=tokens.device), first]
        if mode == "max":
            return tokens.masked_fill(weights == 0, float("-inf")).max(dim=1).values
        if mode == "lasttoken":
            last = mask.size(1) - 1 - mask.flip(1).to(torch.int32).argmax(dim=1)
            return tokens[torch.arange(tokens.size(0), device=tokens.device), last] * mask.any(1, keepdim=True)
        if mode == "weightedmean":
            positions = torch.arange(1, mask.size(1) + 1, device=tokens.device, dtype=acc).view(1, -1, 1)
            left_padding = mask.to(torch.int32).argmax(dim=1).view(-1, 1, 1)
            weights = weights * (positions - left_padding)
        summed = (tokens.to(acc) * weights).sum(dim=1)
        count = (weights.sum(dim=1) if weights_sum is None else weights_sum.unsqueeze(-1).to(acc)).clamp(min=1e-9)
        if mode == "mean_sqrt_len_tokens":
            count = count.sqrt()
        return (summed / count).to(tokens.dtype)

    def get_config_dict(self) -> dict[str, object]:
        config: dict[str, object] = {"word_embedding_dimension": self.embedding_dim}
        for mode, key in _LEGACY_KEYS.items():
            config[key] = mode in self.modes
        config["include_prompt"] = self.include_prompt
        return config

    def save(self, path: Path) -> None:
        write_json(path / "config.json", self.get_config_dict())

    @classmethod
    def load(cls, path: Path) -> Pooling:
        return cls.from_config(read_json(path / "config.json"), source=str(path / "config.json"))

    @classmethod
    def from_config(cls, config: dict[str, object], *, source: str = "pooling config") -> Pooling:
        """Build from either config format: the classic boolean keys or the newer ``pooling_mode``."""
        dim = config.get("embedding_dimension", config.get("word_embedding_dimension"))
        if not isinstance(dim, int):
            raise ConfigError(f"{source}: 'word_embedding_dimension' must be an integer, found {dim!r}")
        raw = config.get("pooling_mode")
        if raw is None:
            modes: tuple[str, ...] = tuple(m for m, key in _LEGACY_KEYS.items() if config.get(key))
        elif isinstance(raw, str):
            modes = (raw,)
        elif isinstance(raw, list):
            modes = tuple(str(m) for m in raw)
        else:
            raise ConfigError(f"{source}: 'pooling_mode' must be a string or a list, found {raw!r}")
        if not modes:
            raise ConfigError(f"{source}: no pooling mode is enabled; valid modes: {POOLING_MODES}")
        try:
            return cls(dim, modes, include_prompt=bool(config.get("include_prompt", True)))  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc


def _without_prompt(mask: Tensor, prompt_length: int) -> Tensor:
    """Zero the first ``prompt_length`` real tokens of each row (after any left padding)."""
    left_padding = mask.to(torch.int32).argmax(dim=1, keepdim=True)
    positions = torch.arange(mask.size(1), device=mask.device).unsqueeze(0)
    return mask * (positions >= left_padding + prompt_length).to(mask.dtype)
