"""StaticEmbedding: one trained vector per token, averaged per text; no transformer at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import Tensor, nn

from sbert_plugins.errors import ConfigError
from sbert_plugins.modules.padding import pad_rows
from sbert_plugins.modules.word_cache import WordPieceCache

TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_FILE = "model.safetensors"


class StaticEmbedding(nn.Module):
    """Tokenize → look up one vector per token → mean over the text's tokens (``nn.EmbeddingBag``).

    The layout on disk is the reference's: ``tokenizer.json`` (a ``tokenizers`` fast tokenizer, used as
    saved, without special tokens) and ``model.safetensors`` with ``embedding.weight``; a model2vec
    folder (``embeddings``, with an optional ``mapping`` and per-token ``weights``) loads too.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (the Rust-backed one; a Hugging Face fast tokenizer's
            ``backend_tokenizer`` also works). Padding is switched off; its truncation setting is kept.
        embedding_weights: ``(vocabulary, dim)`` initial vectors; or None with ``embedding_dim`` for random ones.
        embedding_dim: the vector size when no weights are given.

    Raises:
        ConfigError: neither weights nor a dimension, or weights whose row count differs from the vocabulary.
    """

    st_type = "sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding"

    def __init__(
        self,
        tokenizer: Tokenizer,
        embedding_weights: Tensor | np.ndarray | None = None,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(tokenizer, Tokenizer):
            raise ConfigError(
                f"StaticEmbedding needs a tokenizers.Tokenizer, found {type(tokenizer).__name__}; "
                "pass hf_tokenizer.backend_tokenizer for a Hugging Face fast tokenizer"
            )
        if embedding_weights is not None:
            weights = torch.as_tensor(embedding_weights, dtype=torch.float32)
            if weights.dim() != 2:
                raise ConfigError(
                    f"embedding_weights must be 2-D (vocabulary, dim), found shape {tuple(weights.shape)}"
                )
            self.embedding = nn.EmbeddingBag.from_pretrained(weights, freeze=False, mode="mean")
        elif embedding_dim is not None:
            # One row per id: a vocabulary with gaps in its ids needs more rows than it has tokens.
            rows = max(tokenizer.get_vocab_size(), max(tokenizer.get_vocab().values(), default=-1) + 1)
            self.embedding = nn.EmbeddingBag(rows, embedding_dim, mode="mean")
        else:
            raise ConfigError("StaticEmbedding needs embedding_weights or embedding_dim")
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self._cache = WordPieceCache(tokenizer) if WordPieceCache.applies(tokenizer) else None

    @property
    def embedding_dim(self) -> int:
        return int(self.embedding.embedding_dim)

    @property
    def max_seq_length(self) -> int | None:
        """Always None: texts are read whole (only a truncation stored in ``tokenizer.json`` applies)."""
        return None

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        if value is not None:
            raise ConfigError("a StaticEmbedding model reads whole texts; max_seq_length does not apply to it")

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        """Token ids of each text, without special tokens (``truncate`` has no effect here; a truncation stored
        in ``tokenizer.json`` applies, as in the reference). WordPiece tokenizers go through a per-word cache."""
        if self._cache is not None:
            return self._cache.token_ids(texts)
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """Pad a batch of token id lists into ``input_ids`` and ``attention_mask``."""
        input_ids, attention_mask = pad_rows(ids, pad_id=0)
        return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        """Tokenize and pad ``texts`` into model inputs (CPU tensors)."""
        return self.collate(self.token_ids(texts))

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Set ``sentence_embedding`` to the mean of each text's token vectors (zeros for an empty text)."""
        mask = features["attention_mask"].bool()
        lengths = mask.sum(dim=1)
        offsets = torch.zeros_like(lengths)
        offsets[1:] = lengths.cumsum(0)[:-1]
        features["sentence_embedding"] = self.embedding(features["input_ids"][mask], offsets)
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {}

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        save_file({"embedding.weight": self.embedding.weight.detach().contiguous().cpu()}, str(path / WEIGHTS_FILE))
        self.tokenizer.save(str(path / TOKENIZER_FILE))

    @classmethod
    def load(cls, path: Path) -> StaticEmbedding:
        """Load ``tokenizer.json`` and ``model.safetensors`` (ours, the reference's or model2vec's) from ``path``."""
        for name in (TOKENIZER_FILE, WEIGHTS_FILE):
            if not (path / name).is_file():
                raise ConfigError(f"{path}: a StaticEmbedding folder needs {name}, which is missing")
        weights = load_file(str(path / WEIGHTS_FILE))
        if "embedding.weight" in weights:
            table = weights["embedding.weight"]
        elif "embeddings" in weights:
            table = fold_model2vec_weights(weights["embeddings"], weights.get("mapping"), weights.get("weights"))
        else:
            raise ConfigError(
                f"{path / WEIGHTS_FILE}: expected a tensor 'embedding.weight' (sentence-transformers) or "
                f"'embeddings' (model2vec), found {sorted(weights)}"
            )
        tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        if table.shape[0] < tokenizer.get_vocab_size():
            raise ConfigError(
                f"{path}: {table.shape[0]} embedding rows for a vocabulary of {tokenizer.get_vocab_size()} tokens"
            )
        return cls(tokenizer, embedding_weights=table.float())


def fold_model2vec_weights(embeddings: Tensor, mapping: Tensor | None = None, weights: Tensor | None = None) -> Tensor:
    """One row per token id from model2vec's tensors: ``embeddings[mapping[i]] * weights[i]``.

    model2vec may store fewer vectors than tokens (``mapping``, for vocabulary-quantized models) and a
    per-token weight; folding both in gives the table whose plain mean model2vec computes.
    """
    table = embeddings.float()
    if mapping is not None:
        table = table[mapping.long()]
    if weights is not None:
        table = table * weights.float()[:, None]
    return table.contiguous()
