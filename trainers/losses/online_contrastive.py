"""OnlineContrastiveLoss: the contrastive loss on the hard pairs of each batch only."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import binary_labels, choice, non_negative_number
from trainers.losses._distances import PAIR_DISTANCES, PairDistance, pairwise_distance


class OnlineContrastiveLoss(EmbeddingLoss):
    """Contrastive loss summed over the hard pairs of the batch.

    Hard positives are similar pairs farther apart than the closest dissimilar pair; hard negatives
    are dissimilar pairs closer than the farthest similar pair. The loss is
    ``sum(d_pos^2) + sum(max(0, margin - d_neg)^2)`` over those (when the batch has only one kind of
    pair, the other kind's threshold is the mean distance of the kind present). Easy pairs add
    nothing, so the gradient concentrates where the model is wrong.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        distance: ``"cosine"`` (``1 - cos``, default), ``"euclidean"`` or ``"manhattan"``.
        margin: distance beyond which hard negatives stop contributing; >= 0, default 0.5.

    Inputs:
        ========================  ================================
        columns                   label
        ========================  ================================
        (sentence_A, sentence_B)  1 (similar) or 0 (dissimilar)
        ========================  ================================

    Reference:
        Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
        CVPR 2006 (the contrastive loss), with online hard-pair selection as in the
        sentence-transformers duplicate-questions recipe.

    Relations:
        :class:`ContrastiveLoss` uses every pair; :class:`MultipleNegativesRankingLoss` needs only
        the similar pairs and is the usual choice for retrieval.

    Example:
        ::

            loss = losses.OnlineContrastiveLoss(model, margin=0.5)
            features = [model.tokenize(first_questions), model.tokenize(second_questions)]
            value = loss(features, torch.tensor(is_duplicate))  # 1 or 0 per pair
    """

    def __init__(self, model: SentenceEncoder, *, distance: PairDistance = "cosine", margin: float = 0.5) -> None:
        super().__init__(model)
        self.distance: PairDistance = choice(self._name, "distance", distance, PAIR_DISTANCES)  # type: ignore[assignment]
        self.margin = non_negative_number(self._name, "margin", margin)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss from pair embeddings and one 0/1 label per row."""
        first, second = self._check(embeddings)
        similar = binary_labels(self._name, labels, first.shape[0]).to(first.device) == 1
        distances = pairwise_distance(first, second, self.distance)
        positives, negatives = distances[similar], distances[~similar]
        positive_threshold = negatives.min() if negatives.numel() else positives.mean()
        negative_threshold = positives.max() if positives.numel() else negatives.mean()
        hard_positives = positives[positives > positive_threshold]
        hard_negatives = negatives[negatives < negative_threshold]
        return hard_positives.pow(2).sum() + F.relu(self.margin - hard_negatives).pow(2).sum()

    def get_config_dict(self) -> dict[str, Any]:
        """``distance`` and ``margin``."""
        return {"distance": self.distance, "margin": self.margin}
