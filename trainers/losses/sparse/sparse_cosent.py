"""SparseCoSENTLoss: the CoSENT ranking loss on the cosines of sparse embeddings."""

from __future__ import annotations

from torch import nn

from trainers.losses.cosent import CoSENTLoss
from trainers.losses.sparse._wrapped_only import WrappedOnly, score_by_cosine


class SparseCoSENTLoss(WrappedOnly, CoSENTLoss):
    """:class:`~trainers.losses.CoSENTLoss` on sparse embeddings: pairs with higher gold scores get higher cosines.

    Building it sets the model's ``similarity_fn_name`` to ``"cosine"`` (saved with the model), as the
    reference does.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.
        scale: multiplies the similarity differences; > 0, default 20.

    Inputs:
        ===============================================  =====================================
        columns                                          label
        ===============================================  =====================================
        (sentence_A, sentence_B)                         float similarity score (any scale)
        ===============================================  =====================================

        Only inside :class:`SpladeLoss` or :class:`CSRLoss`; alone, ``forward`` raises ConfigError.

    Reference:
        Su Jianlin, "CoSENT", 2022, https://kexue.fm/archives/8847.

    Relations:
        :class:`SparseAnglELoss` is this loss on the angle similarity; :class:`SparseCosineSimilarityLoss`
        regresses the scores themselves.

    Example:
        ::

            loss = losses.SpladeLoss(
                model, losses.SparseCoSENTLoss(model), document_regularizer_weight=5e-5,
                use_document_regularizer_only=True,
            )
    """

    def __init__(self, model: nn.Module, *, scale: float = 20.0) -> None:
        score_by_cosine(model)
        super().__init__(model, scale=scale)  # type: ignore[arg-type]
