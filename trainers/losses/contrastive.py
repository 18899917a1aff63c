"""ContrastiveLoss: pull similar pairs together, push dissimilar pairs beyond a margin."""

from __future__ import annotations

from typing import Any, Literal

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, float_labels, non_negative_number
from trainers.losses._distances import PAIR_DISTANCES, PairDistance, pairwise_distance


class ContrastiveLoss(EmbeddingLoss):
    """``0.5 * (y * d^2 + (1 - y) * max(0, margin - d)^2)`` per pair, averaged (or summed) over the batch.

    ``d`` is the distance between the pair's embeddings and ``y`` its label: similar pairs (``y = 1``)
    are pulled together, dissimilar ones (``y = 0``) pushed until they are ``margin`` apart.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        distance: ``"cosine"`` (``1 - cos``, default), ``"euclidean"`` or ``"manhattan"``.
        margin: distance beyond which dissimilar pairs stop contributing; >= 0, default 0.5.
        reduction: ``"mean"`` (default) or ``"sum"`` over the batch.

    Inputs:
        ========================  ===============================================================
        columns                   label
        ========================  ===============================================================
        (sentence_A, sentence_B)  1 (similar) or 0 (dissimilar); a float in [0, 1] weighs both terms
        ========================  ===============================================================

    Reference:
        Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
        CVPR 2006, https://doi.org/10.1109/CVPR.2006.100.

    Relations:
        :class:`OnlineContrastiveLoss` keeps only the hard pairs of each batch and usually trains
        better; :class:`MultipleNegativesRankingLoss` needs only the similar pairs.

    Example:
        ::

            loss = losses.ContrastiveLoss(model, distance="cosine", margin=0.5)
            features = [model.tokenize(first_sentences), model.tokenize(second_sentences)]
            value = loss(features, torch.tensor(is_paraphrase))  # 1 or 0 per pair
    """

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        distance: PairDistance = "cosine",
        margin: float = 0.5,
        reduction: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__(model)
        self.distance: PairDistance = choice(self._name, "distance", distance, PAIR_DISTANCES)  # type: ignore[assignment]
        self.margin = non_negative_number(self._name, "margin", margin)
        self.reduction: Literal["mean", "sum"] = choice(self._name, "reduction", reduction, ("mean", "sum"))  # type: ignore[assignment]

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss from pair embeddings and one label in [0, 1] per row."""
        first, second = self._check(embeddings)
        similar = float_labels(self._name, labels, first.shape[0], low=0.0, high=1.0).to(first.device)
        distances = pairwise_distance(first, second, self.distance)
        per_pair = 0.5 * (similar * distances.pow(2) + (1.0 - similar) * F.relu(self.margin - distances).pow(2))
        return per_pair.mean() if self.reduction == "mean" else per_pair.sum()

    def get_config_dict(self) -> dict[str, Any]:
        """``distance``, ``margin`` and ``reduction``."""
        return {"distance": self.distance, "margin": self.margin, "reduction": self.reduction}
