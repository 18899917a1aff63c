"""SparseTripletLoss: the triplet margin loss on sparse embeddings."""

from __future__ import annotations

from torch import nn

from trainers.losses._distances import PairDistance
from trainers.losses.sparse._wrapped_only import WrappedOnly
from trainers.losses.triplet import TripletLoss


class SparseTripletLoss(WrappedOnly, TripletLoss):
    """:class:`~trainers.losses.TripletLoss` on sparse embeddings: ``max(0, d(a, p) - d(a, n) + margin)``.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.
        distance: ``"euclidean"`` (default), ``"cosine"`` or ``"manhattan"``.
        margin: >= 0, default 5.

    Inputs:
        ============================  =======================
        columns                       label
        ============================  =======================
        (anchor, positive, negative)  none (ignored if given)
        ============================  =======================

        Only inside :class:`SpladeLoss` or :class:`CSRLoss`; alone, ``forward`` raises ConfigError.

    Reference:
        Schroff et al., "FaceNet", CVPR 2015, https://arxiv.org/abs/1503.03832.

    Relations:
        :class:`SparseMultipleNegativesRankingLoss` takes the same triplets and also uses the other rows as
        negatives, which usually trains better.

    Example:
        ::

            loss = losses.SpladeLoss(model, losses.SparseTripletLoss(model), document_regularizer_weight=3e-5)
    """

    def __init__(self, model: nn.Module, *, distance: PairDistance = "euclidean", margin: float = 5.0) -> None:
        super().__init__(model, distance=distance, margin=margin)  # type: ignore[arg-type]
