"""AnglELoss: CoSENT on the angle similarity, which avoids the flat gradient of cosine near +-1."""

from __future__ import annotations

from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._distances import pairwise_angle
from trainers.losses.cosent import CoSENTLoss


class AnglELoss(CoSENTLoss):
    """:class:`CoSENTLoss` with the AnglE similarity ``|cos(u, v) + sin(u, v)|`` of complex-valued embeddings.

    Each embedding is split in halves read as the real and imaginary parts of a complex vector; the
    similarity compares the angle between the two, whose gradient does not vanish where the cosine
    saturates.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        scale: multiplies the similarity differences (``1 / temperature``); > 0, default 20.

    Inputs:
        ===============================================  =====================================
        columns                                          label
        ===============================================  =====================================
        (sentence_A, sentence_B)                         float similarity score (any scale)
        (anchor, positive, negative_1, ..., negative_n)  none, or a float score per row
        ===============================================  =====================================

        With three or more columns each row becomes pairs as in :class:`CoSENTLoss`.

    Reference:
        Li & Li, "AnglE-optimized Text Embeddings", 2023, https://arxiv.org/abs/2309.12871.

    Relations:
        :class:`CoSENTLoss` is the same ranking loss on the cosine; :class:`CosineSimilarityLoss`
        regresses the scores directly.

    Example:
        ::

            loss = losses.AnglELoss(model)
            features = [model.tokenize(first_sentences), model.tokenize(second_sentences)]
            value = loss(features, torch.tensor(scores))
    """

    def __init__(self, model: SentenceEncoder, *, scale: float = 20.0) -> None:
        super().__init__(model, scale=scale)

    def similarity(self, first: Tensor, second: Tensor) -> Tensor:
        """Row-wise AnglE similarity of the pairs."""
        return pairwise_angle(first, second)
