"""SparseCosineSimilarityLoss: regress the cosine of two sparse embeddings onto a gold score."""

from __future__ import annotations

from torch import nn

from trainers.losses.cosine_similarity import CosineSimilarityLoss
from trainers.losses.sparse._wrapped_only import WrappedOnly, score_by_cosine


class SparseCosineSimilarityLoss(WrappedOnly, CosineSimilarityLoss):
    """:class:`~trainers.losses.CosineSimilarityLoss` on sparse embeddings: ``mean((cos(u, v) - label)^2)``.

    Building it sets the model's ``similarity_fn_name`` to ``"cosine"`` (saved with the model), as the
    reference does: the model is then searched the way it was trained.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.

    Inputs:
        ========================  =========================================
        columns                   label
        ========================  =========================================
        (sentence_A, sentence_B)  float similarity score in [-1, 1]
        ========================  =========================================

        Only inside :class:`SpladeLoss` or :class:`CSRLoss`; alone, ``forward`` raises ConfigError.

    Reference:
        Reimers & Gurevych, "Sentence-BERT", EMNLP 2019, https://arxiv.org/abs/1908.10084.

    Relations:
        :class:`SparseCoSENTLoss` and :class:`SparseAnglELoss` only use the order of the scores, which
        usually trains better.

    Example:
        ::

            loss = losses.SpladeLoss(
                model, losses.SparseCosineSimilarityLoss(model), document_regularizer_weight=5e-5,
                use_document_regularizer_only=True,
            )
    """

    def __init__(self, model: nn.Module) -> None:
        score_by_cosine(model)
        super().__init__(model)  # type: ignore[arg-type]
