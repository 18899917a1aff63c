"""L2 normalisation of the sentence embedding."""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn


class Normalize(nn.Module):
    """Scales ``features["sentence_embedding"]`` to unit L2 norm; has no weights and no config."""

    st_type = "sentence_transformers.models.Normalize"

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features["sentence_embedding"] = F.normalize(features["sentence_embedding"], p=2, dim=1)
        return features

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def load(cls, path: Path) -> Normalize:
        return cls()
