"""What every loss shares: embedding each text column with the model, then the maths in float32."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import DataError
from trainers.losses._checks import check_column_count, check_embeddings


def features_to_device(features: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """A shallow copy of ``features`` with every tensor on ``device`` (tensors already there are kept).

    Copying also keeps the model's forward (which adds ``token_embeddings`` and ``sentence_embedding``)
    from writing into the caller's dict.
    """
    return {
        key: value.to(device, non_blocking=True) if isinstance(value, Tensor) and value.device != device else value
        for key, value in features.items()
    }


def embed_columns(model: nn.Module, features: Sequence[Mapping[str, Any]], device: torch.device) -> list[Tensor]:
    """``model(f)["sentence_embedding"]`` for each text column's features ``f``, with gradients."""
    return [model(features_to_device(column, device))["sentence_embedding"] for column in features]


class EmbeddingLoss(nn.Module, ABC):
    """Base of the sentence-embedding losses: ``loss(features, labels) -> scalar``.

    Subclasses set the class attributes that describe their text columns and implement
    :meth:`compute_loss_from_embeddings` (the maths, on tensors) and :meth:`get_config_dict`.

    ``forward`` checks the number of columns, embeds each one with the model, and runs the loss
    maths in float32 with autocast switched off, so mixed-precision training only affects the model.
    """

    min_columns: ClassVar[int] = 2
    max_columns: ClassVar[int | None] = 2
    columns: ClassVar[str] = "(sentence_A, sentence_B)"

    def __init__(self, model: SentenceEncoder) -> None:
        super().__init__()
        if isinstance(model, CrossEncoder):
            raise TypeError(
                f"{type(self).__name__} trains sentence embeddings; for a CrossEncoder use "
                f"trainers.losses.cross_encoder.{type(self).__name__} (if it exists there) or another loss "
                "listed in trainers.losses.cross_encoder"
            )
        if not isinstance(model, nn.Module):
            raise TypeError(f"{type(self).__name__} expects a SentenceEncoder, found {type(model).__name__}")
        self.model = model

    @property
    def _name(self) -> str:
        return type(self).__name__

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed each text column (``features[i]`` from ``model.tokenize``) and return the scalar loss.

        Raises:
            DataError: wrong number of columns, or labels missing or of the wrong shape or type.
        """
        if isinstance(features, Mapping) or not isinstance(features, Sequence):
            raise DataError(
                f"{self._name} expects a list of feature dicts (one per text column {self.columns}), "
                f"found {type(features).__name__}"
            )
        check_column_count(
            self._name, len(features), minimum=self.min_columns, maximum=self.max_columns, columns=self.columns
        )
        for index, column in enumerate(features):
            if not isinstance(column, Mapping):
                raise DataError(
                    f"{self._name}: column {index} must be a dict from model.tokenize, found {type(column).__name__}"
                )
        device = next(self.model.parameters()).device
        embeddings = embed_columns(self.model, features, device)
        with torch.autocast(device_type=device.type, enabled=False):
            return self.compute_loss_from_embeddings([e.float() for e in embeddings], labels)

    def _check(self, embeddings: list[Tensor]) -> list[Tensor]:
        """Check the column count and shapes of hand-made or computed embeddings."""
        return check_embeddings(
            self._name, embeddings, minimum=self.min_columns, maximum=self.max_columns, columns=self.columns
        )

    @abstractmethod
    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The scalar loss of one batch, given one ``(batch, dim)`` embedding tensor per column."""

    @abstractmethod
    def get_config_dict(self) -> dict[str, Any]:
        """The hyper-parameters, JSON-serialisable (written to the model card)."""
