"""SparseStaticEmbedding: the inference-free query side of SPLADE, one learned weight per vocabulary token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from sbert_plugins.errors import ConfigError
from sbert_plugins.modules._files import load_weights, read_config, save_module
from sbert_plugins.modules.padding import pad_rows
from sbert_plugins.modules.transformer import hf_token_ids

CONFIG_FILE = "config.json"
# Tokenizers report a huge model_max_length when they have no limit; below this it is a real one.
_REAL_LENGTH_LIMIT = 1_000_000


class SparseStaticEmbedding(nn.Module):
    """Each text becomes ``weight[token]`` on every vocabulary token it contains (no transformer): queries
    encode in microseconds, while documents go through a SPLADE encoder on the other side of a Router.

    Args:
        tokenizer: a Hugging Face tokenizer; texts are tokenized without special tokens.
        weight: one weight per vocabulary entry, ``(vocab_size,)``; None gives 1 for every token.
        frozen: keep the weights fixed in training.

    Raises:
        ConfigError: ``weight`` is not 1-D.
    """

    st_type = "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding"

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, weight: Tensor | None = None, *, frozen: bool = False
    ) -> None:
        super().__init__()
        if weight is None:
            weight = torch.ones(len(tokenizer.get_vocab()))
        weight = torch.as_tensor(weight, dtype=torch.float32)
        if weight.dim() != 1:
            raise ConfigError(f"SparseStaticEmbedding weight must be 1-D (vocab_size,), found {tuple(weight.shape)}")
        self.weight = nn.Parameter(weight, requires_grad=not frozen)
        self.tokenizer = tokenizer
        self.frozen = frozen
        limit = getattr(tokenizer, "model_max_length", None)
        self._max_seq_length: int | None = limit if isinstance(limit, int) and limit < _REAL_LENGTH_LIMIT else None

    @property
    def embedding_dim(self) -> int:
        return int(self.weight.shape[0])

    @property
    def max_seq_length(self) -> int | None:
        """Texts are cut to this many tokens (the tokenizer's limit; None when it has none)."""
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        self._max_seq_length = value

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        """Token ids of each text, without special tokens, truncated to ``max_seq_length`` when it is set."""
        limit = self._max_seq_length if truncate else None
        return hf_token_ids(self.tokenizer, texts, max_length=limit, add_special_tokens=False)

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """Pad a batch of token id lists into ``input_ids`` and ``attention_mask``."""
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids, attention_mask = pad_rows(ids, pad_id=pad_id)
        return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        """Tokenize and pad ``texts`` into model inputs (CPU tensors)."""
        return self.collate(self.token_ids(texts))

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Set ``sentence_embedding`` to ``weight`` on the tokens present in each text, 0 elsewhere (multiplied
        by an incoming ``sentence_embedding`` when there is one, as in the reference)."""
        input_ids, mask = features["input_ids"], features["attention_mask"].long()
        presence = torch.zeros(input_ids.shape[0], self.embedding_dim, dtype=torch.long, device=input_ids.device)
        presence.scatter_reduce_(1, input_ids, mask, reduce="amax")
        embeddings = presence * self.weight
        previous = features.get("sentence_embedding")
        features["sentence_embedding"] = embeddings if previous is None else embeddings * previous
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {"frozen": self.frozen}

    def save(self, path: Path) -> None:
        save_module(self, path, self.get_config_dict(), config_name=CONFIG_FILE)
        self.tokenizer.save_pretrained(str(path))

    @classmethod
    def load(cls, path: Path) -> SparseStaticEmbedding:
        """Read ``config.json``, the tokenizer and ``model.safetensors`` (tensor ``weight``) from ``path``.

        Raises:
            ConfigError: a file is missing, the weights lack ``weight``, or the config points to an IDF JSON
                file (``path``), which this project does not read.
        """
        config = read_config(path, CONFIG_FILE)
        if config.get("path"):
            raise ConfigError(
                f"{path / CONFIG_FILE}: weights from an IDF JSON file ({config['path']!r}) are not read here; "
                "load the model once with sentence-transformers and save it, which stores them in model.safetensors"
            )
        weights = load_weights(path, allow_pickle=False, owner="SparseStaticEmbedding")
        if "weight" not in weights:
            raise ConfigError(f"{path}/model.safetensors: expected a tensor 'weight', found {sorted(weights)}")
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        return cls(tokenizer, weights["weight"].float(), frozen=bool(config.get("frozen", False)))
