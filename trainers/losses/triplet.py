"""TripletLoss: the anchor must be closer to its positive than to its negative by a margin."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, non_negative_number
from trainers.losses._distances import PAIR_DISTANCES, PairDistance, pairwise_distance


class TripletLoss(EmbeddingLoss):
    """``max(0, d(anchor, positive) - d(anchor, negative) + margin)``, averaged over the batch.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        distance: ``"euclidean"`` (default), ``"cosine"`` (``1 - cos``) or ``"manhattan"``.
        margin: how much closer the positive must be; >= 0, default 5 (suits euclidean distances of
            unnormalised embeddings; use about 0.1-0.5 with ``"cosine"``).

    Inputs:
        ============================  =======================
        columns                       label
        ============================  =======================
        (anchor, positive, negative)  none (ignored if given)
        ============================  =======================

    Reference:
        Reimers & Gurevych, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
        EMNLP 2019, https://arxiv.org/abs/1908.10084 (section 3, triplet objective); Schroff et al.,
        "FaceNet", CVPR 2015, https://arxiv.org/abs/1503.03832.

    Relations:
        :class:`MultipleNegativesRankingLoss` takes the same triplets and also uses the other rows
        as negatives, which usually trains better; with class labels instead of triplets use the
        batch triplet losses (:class:`BatchHardTripletLoss`, :class:`BatchSemiHardTripletLoss`, ...).

    Example:
        ::

            loss = losses.TripletLoss(model, distance="euclidean", margin=5.0)
            features = [model.tokenize(anchors), model.tokenize(positives), model.tokenize(negatives)]
            value = loss(features, None)
    """

    min_columns = 3
    max_columns = 3
    columns = "(anchor, positive, negative)"

    def __init__(self, model: SentenceEncoder, *, distance: PairDistance = "euclidean", margin: float = 5.0) -> None:
        super().__init__(model)
        self.distance: PairDistance = choice(self._name, "distance", distance, PAIR_DISTANCES)  # type: ignore[assignment]
        self.margin = non_negative_number(self._name, "margin", margin)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from (anchor, positive, negative) embeddings; ``labels`` are ignored."""
        anchors, positives, negatives = self._check(embeddings)
        to_positive = pairwise_distance(anchors, positives, self.distance)
        to_negative = pairwise_distance(anchors, negatives, self.distance)
        return F.relu(to_positive - to_negative + self.margin).mean()

    def get_config_dict(self) -> dict[str, Any]:
        """``distance`` and ``margin``."""
        return {"distance": self.distance, "margin": self.margin}
