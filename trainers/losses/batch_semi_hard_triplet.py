"""BatchSemiHardTripletLoss: for each positive pair, the closest negative that is still farther than the positive."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._batch_triplet import BatchTripletLoss, label_masks
from trainers.losses._checks import non_negative_number
from trainers.losses._distances import MatrixDistance


class BatchSemiHardTripletLoss(BatchTripletLoss):
    """Mean over positive pairs ``(a, p)`` of ``max(0, d(a, p) - d(a, n) + margin)`` with a semi-hard ``n``.

    ``n`` is the closest negative of ``a`` that is farther than ``p``; when there is none, the
    farthest negative of ``a``. Semi-hard negatives avoid the collapse that the very hardest ones
    can cause early in training.

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

        Each batch needs several texts per class: use the group-by-label batch sampler.

    Reference:
        Schroff, Kalenichenko & Philbin, "FaceNet: A Unified Embedding for Face Recognition and
        Clustering", CVPR 2015, https://arxiv.org/abs/1503.03832.

    Relations:
        :class:`BatchHardTripletLoss` takes the hardest negative instead; :class:`BatchAllTripletLoss`
        averages over all violating triplets.

    Example:
        ::

            loss = losses.BatchSemiHardTripletLoss(model, margin=5.0)
            value = loss([model.tokenize(texts)], torch.tensor(topic_ids))
    """

    def __init__(self, model: SentenceEncoder, *, distance: MatrixDistance = "euclidean", margin: float = 5.0) -> None:
        super().__init__(model, distance=distance)
        self.margin = non_negative_number(self._name, "margin", margin)

    def loss_from_distances(self, distances: Tensor, classes: Tensor) -> Tensor:
        """Hinge on each positive pair's semi-hard negative, averaged over positive pairs (0 if none)."""
        positive, negative = label_masks(classes)
        anchors, positives = positive.nonzero(as_tuple=True)
        to_positive = distances[anchors, positives]
        # Each anchor's negative distances in increasing order (non-negatives pushed to the end as +inf).
        sorted_negatives = distances.masked_fill(~negative, torch.inf).sort(dim=1).values[anchors]
        # Index of the first negative strictly farther than the positive (sorting bounds the search).
        first_farther = torch.searchsorted(
            sorted_negatives.detach().contiguous(), to_positive.detach().unsqueeze(1).contiguous(), right=True
        ).clamp_max(distances.shape[1] - 1)
        semi_hard = sorted_negatives.gather(1, first_farther).squeeze(1)
        farthest = distances.masked_fill(~negative, -torch.inf).max(dim=1).values[anchors]
        farthest = torch.where(torch.isfinite(farthest), farthest, torch.zeros_like(farthest))
        chosen = torch.where(torch.isfinite(semi_hard), semi_hard, farthest)
        hinge = F.relu(to_positive - chosen + self.margin)
        return hinge.sum() / max(int(anchors.numel()), 1)

    def get_config_dict(self) -> dict[str, Any]:
        """``distance`` and ``margin``."""
        return {"distance": self.distance, "margin": self.margin}
