"""BatchHardSoftMarginTripletLoss: batch-hard triplets with a softplus instead of a fixed margin."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._batch_triplet import BatchTripletLoss, hardest_distances, label_masks
from trainers.losses._distances import MatrixDistance


class BatchHardSoftMarginTripletLoss(BatchTripletLoss):
    """Mean over anchors of ``softplus(hardest positive distance - hardest negative distance)``.

    Like :class:`BatchHardTripletLoss` without a margin to tune: the softplus keeps pushing the
    negative away (ever more gently) instead of stopping at a margin.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        distance: ``"euclidean"`` (default), ``"squared_euclidean"`` or ``"cosine"`` (``1 - cos``).

    Inputs:
        ==========  ==========================
        columns     label
        ==========  ==========================
        (sentence)  integer class id
        ==========  ==========================

        Each batch needs several texts per class: use the group-by-label batch sampler.

    Reference:
        Hermans, Beyer & Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        2017, https://arxiv.org/abs/1703.07737 (the soft-margin variant).

    Relations:
        :class:`BatchHardTripletLoss` is the same with a hinge and a margin;
        :class:`BatchAllTripletLoss` averages over every valid triplet instead of the hardest.

    Example:
        ::

            loss = losses.BatchHardSoftMarginTripletLoss(model)
            value = loss([model.tokenize(texts)], torch.tensor(topic_ids))
    """

    def __init__(self, model: SentenceEncoder, *, distance: MatrixDistance = "euclidean") -> None:
        super().__init__(model, distance=distance)

    def loss_from_distances(self, distances: Tensor, classes: Tensor) -> Tensor:
        """Softplus of each anchor's hardest positive minus hardest negative distance, averaged."""
        positive, negative = label_masks(classes)
        hardest_positive, hardest_negative = hardest_distances(distances, positive, negative)
        return F.softplus(hardest_positive - hardest_negative).mean()

    def get_config_dict(self) -> dict[str, Any]:
        """``distance``."""
        return {"distance": self.distance}
