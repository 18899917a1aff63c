"""BatchAllTripletLoss: every valid (anchor, positive, negative) triplet of the batch."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._batch_triplet import BatchTripletLoss, label_masks
from trainers.losses._checks import non_negative_number
from trainers.losses._distances import MatrixDistance


class BatchAllTripletLoss(BatchTripletLoss):
    """Mean of ``max(0, d(a, p) - d(a, n) + margin)`` over the triplets of the batch that violate the margin.

    A triplet is valid when ``a != p`` share a label and ``n`` has another; averaging over the
    violating ones only keeps the loss from shrinking as easy triplets pile up.

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

        Each batch needs several texts per class: use the group-by-label batch sampler. Memory grows
        as (batch size) x (positive pairs in the batch).

    Reference:
        Hermans, Beyer & Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
        2017, https://arxiv.org/abs/1703.07737 (batch all).

    Relations:
        :class:`BatchHardTripletLoss` keeps only the hardest triplet per anchor (a stronger, noisier
        signal); :class:`BatchSemiHardTripletLoss` one semi-hard negative per positive pair.

    Example:
        ::

            loss = losses.BatchAllTripletLoss(model, margin=5.0)
            value = loss([model.tokenize(texts)], torch.tensor(topic_ids))
    """

    def __init__(self, model: SentenceEncoder, *, distance: MatrixDistance = "euclidean", margin: float = 5.0) -> None:
        super().__init__(model, distance=distance)
        self.margin = non_negative_number(self._name, "margin", margin)

    def loss_from_distances(self, distances: Tensor, classes: Tensor) -> Tensor:
        """Hinge over all valid triplets, averaged over those with a positive loss (0 if none)."""
        positive, negative = label_masks(classes)
        # One row per (anchor, positive) pair against every candidate negative: no (batch^3) tensor.
        anchors, positives = positive.nonzero(as_tuple=True)
        to_positive = distances[anchors, positives].unsqueeze(1)
        hinge = F.relu(to_positive - distances[anchors] + self.margin) * negative[anchors]
        violating = (hinge > 1e-16).sum()
        return hinge.sum() / violating.clamp_min(1)

    def get_config_dict(self) -> dict[str, Any]:
        """``distance`` and ``margin``."""
        return {"distance": self.distance, "margin": self.margin}
