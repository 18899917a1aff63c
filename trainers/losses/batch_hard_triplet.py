"""BatchHardTripletLoss: for each anchor, its farthest positive against its closest negative."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._batch_triplet import BatchTripletLoss, hardest_distances, label_masks
from trainers.losses._checks import non_negative_number
from trainers.losses._distances import MatrixDistance


class BatchHardTripletLoss(BatchTripletLoss):
    """Mean over anchors of ``max(0, hardest positive distance - hardest negative distance + margin)``.

    Every text of the batch is an anchor; positives share its label, negatives do not. Only the
    hardest positive and the hardest negative of each anchor count.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        distance: ``"euclidean"`` (default), ``"squared_euclidean"`` or ``"cosine"`` (``1 - cos``).
        margin: >= 0, default 5 (suits euclidean distances; use about 0.1-0.5 with ``"cosine"``).

    Inputs:
        ==========  ==========================
        columns     label
        ==========  ==========================
        (sentence)  integer class id
        ==========  ==========================

        Each batch needs several texts per class: use the group-by-label batch sampler. An anchor
        without a positive in the batch counts its positive distance as 0.

    Reference:
        Hermans, Beyer & Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        2017, https://arxiv.org/abs/1703.07737.

    Relations:
        :class:`BatchHardSoftMarginTripletLoss` replaces the margin by a softplus;
        :class:`BatchSemiHardTripletLoss` and :class:`BatchAllTripletLoss` use more triplets and are
        gentler early in training; with explicit (anchor, positive, negative) rows use
        :class:`TripletLoss`.

    Example:
        ::

            loss = losses.BatchHardTripletLoss(model, margin=5.0)
            value = loss([model.tokenize(texts)], torch.tensor(topic_ids))
    """

    def __init__(self, model: SentenceEncoder, *, distance: MatrixDistance = "euclidean", margin: float = 5.0) -> None:
        super().__init__(model, distance=distance)
        self.margin = non_negative_number(self._name, "margin", margin)

    def loss_from_distances(self, distances: Tensor, classes: Tensor) -> Tensor:
        """Hinge on each anchor's hardest positive and hardest negative, averaged over anchors."""
        positive, negative = label_masks(classes)
        hardest_positive, hardest_negative = hardest_distances(distances, positive, negative)
        return F.relu(hardest_positive - hardest_negative + self.margin).mean()

    def get_config_dict(self) -> dict[str, Any]:
        """``distance`` and ``margin``."""
        return {"distance": self.distance, "margin": self.margin}
