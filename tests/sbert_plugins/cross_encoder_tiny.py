"""A tiny sequence-classification BERT saved as a plain Hugging Face folder, for cross-encoder tests."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from tests.conftest import build_tiny_modules


def build_tiny_classifier(folder: Path, *, num_labels: int = 1, seed: int = 0) -> Path:
    """Write a 2-layer, 32-wide ``BertForSequenceClassification`` and its tokenizer to ``folder``.

    The weights are drawn wider than BERT's default so that different pairs get clearly different scores.
    """
    tokenizer = build_tiny_modules(folder.parent / f"{folder.name}-vocab")[0].tokenizer
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=max(tokenizer.get_vocab().values()) + 1,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        initializer_range=0.3,
        num_labels=num_labels,
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
