"""What the batch triplet losses share: one labelled text column, a distance matrix, label masks."""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, class_labels
from trainers.losses._distances import MATRIX_DISTANCES, MatrixDistance, distance_matrix


def label_masks(classes: Tensor) -> tuple[Tensor, Tensor]:
    """``(positive, negative)`` boolean ``(batch, batch)`` masks.

    ``positive[a, p]``: same class and ``a != p``; ``negative[a, n]``: different classes.
    """
    same = classes.unsqueeze(0) == classes.unsqueeze(1)
    itself = torch.eye(classes.shape[0], dtype=torch.bool, device=classes.device)
    return same & ~itself, ~same


def hardest_distances(distances: Tensor, positive: Tensor, negative: Tensor) -> tuple[Tensor, Tensor]:
    """Per anchor: the largest distance to a positive and the smallest to a negative.

    An anchor without positives gets 0; one without negatives gets at least its largest distance
    (the conventions of the batch-hard formulation, which keep every row in the mean).
    """
    hardest_positive = (distances * positive).max(dim=1).values
    row_max = distances.max(dim=1, keepdim=True).values
    hardest_negative = (distances + row_max * (~negative)).min(dim=1).values
    return hardest_positive, hardest_negative


class BatchTripletLoss(EmbeddingLoss):
    """Base of the losses that mine triplets inside a batch of (text, class label) rows."""

    min_columns = 1
    max_columns = 1
    columns = "(sentence,) with a class label per row"

    def __init__(self, model: SentenceEncoder, *, distance: MatrixDistance = "euclidean") -> None:
        super().__init__(model)
        self.distance: MatrixDistance = choice(self._name, "distance", distance, MATRIX_DISTANCES)  # type: ignore[assignment]

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss from one embedding column and one integer class id per row."""
        (vectors,) = self._check(embeddings)
        classes = class_labels(self._name, labels, vectors.shape[0]).to(vectors.device)
        return self.loss_from_distances(distance_matrix(vectors, self.distance), classes)

    @abstractmethod
    def loss_from_distances(self, distances: Tensor, classes: Tensor) -> Tensor:
        """The scalar loss from the ``(batch, batch)`` distance matrix and the class ids."""
