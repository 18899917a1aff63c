"""Losses that train two copies of the model side by side (Contrastive Tension): the copy and the checks."""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss, features_to_device
from trainers.losses._feature_checks import check_feature_columns


class TwinEncoderLoss(EmbeddingLoss):
    """An :class:`EmbeddingLoss` holding ``model`` and ``twin``, an independent copy made at construction.

    Both are trained (the twin is a sub-module of the loss, so its parameters reach the optimizer and
    the loss's checkpoint state); only ``model`` is the result, the twin is discarded after training.
    Subclasses say which columns each encoder embeds in :meth:`embed`.
    """

    def __init__(self, model: SentenceEncoder) -> None:
        super().__init__(model)
        self.twin = copy.deepcopy(model)

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Check the columns, embed them with the twin and the model, and return the scalar loss.

        Raises:
            DataError: wrong number of columns, or labels of the wrong shape or type.
        """
        check_feature_columns(
            self._name, features, minimum=self.min_columns, maximum=self.max_columns, columns=self.columns
        )
        device = next(self.model.parameters()).device
        moved = [features_to_device(column, device) for column in features]
        embeddings = self.embed(moved)
        with torch.autocast(device_type=device.type, enabled=False):
            return self.loss_from_features([e.float() for e in embeddings], moved, labels)

    @abstractmethod
    def embed(self, features: list[dict[str, Any]]) -> list[Tensor]:
        """The embeddings :meth:`compute_loss_from_embeddings` takes, from the (device-side) features."""

    def loss_from_features(
        self, embeddings: list[Tensor], features: list[dict[str, Any]], labels: Tensor | None
    ) -> Tensor:
        """The loss once embedded; by default :meth:`compute_loss_from_embeddings` (features unused)."""
        return self.compute_loss_from_embeddings(embeddings, labels)


def sentence_embedding(encoder: nn.Module, features: Mapping[str, Any]) -> Tensor:
    """``encoder(features)["sentence_embedding"]`` on a shallow copy (the encoder adds keys to its input)."""
    return encoder(dict(features))["sentence_embedding"]
