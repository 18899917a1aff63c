"""SparseAnglELoss: CoSENT on the AnglE similarity of sparse embeddings."""

from __future__ import annotations

from torch import nn

from trainers.losses.angle import AnglELoss
from trainers.losses.sparse._wrapped_only import WrappedOnly, score_by_cosine


class SparseAnglELoss(WrappedOnly, AnglELoss):
    """:class:`~trainers.losses.AnglELoss` on sparse embeddings: CoSENT on the AnglE similarity ``|cos + sin|``.

    Building it sets the model's ``similarity_fn_name`` to ``"cosine"``, as the reference does.

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
        Li & Li, "AnglE-optimized Text Embeddings", 2023, https://arxiv.org/abs/2309.12871.

    Relations:
        :class:`SparseCoSENTLoss` is the same ranking loss on the cosine.

    Example:
        ::

            loss = losses.SpladeLoss(
                model, losses.SparseAnglELoss(model), document_regularizer_weight=5e-5,
                use_document_regularizer_only=True,
            )
    """

    def __init__(self, model: nn.Module, *, scale: float = 20.0) -> None:
        score_by_cosine(model)
        super().__init__(model, scale=scale)  # type: ignore[arg-type]
