"""A StaticEmbedding model trains with every loss that does not need a transformer inside the model."""

from __future__ import annotations

import pytest
import torch

from sbert_plugins import SentenceEncoder
from sbert_plugins.modules import StaticEmbedding
from trainers import losses

from .cases import CASES
from .conftest import features

# These reach into a Hugging Face transformer inside the model (its layers, its decoder).
NEEDS_A_TRANSFORMER = {"AdaptiveLayerLoss", "Matryoshka2dLoss", "DenoisingAutoEncoderLoss"}


@pytest.mark.parametrize("name", [n for n in losses.EMBEDDING_LOSSES if n not in NEEDS_A_TRANSFORMER])
def test_every_loss_trains_a_static_model(name: str, tiny_encoder: SentenceEncoder) -> None:
    torch.manual_seed(0)
    static = StaticEmbedding(tiny_encoder.tokenizer.backend_tokenizer, embedding_dim=32)
    model = SentenceEncoder(modules=[static], device="cpu").train()
    case = CASES[name]
    value = getattr(losses, name)(model, **case.kwargs)(features(model, case.columns), case.labels)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    grad = static.embedding.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
