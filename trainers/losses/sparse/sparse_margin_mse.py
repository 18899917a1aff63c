"""SparseMarginMSELoss: MarginMSE distillation for sparse models (dot-product scores)."""

from __future__ import annotations

from typing import Literal

from torch import nn

from trainers.losses.margin_mse import MarginMSELoss
from trainers.losses.sparse._wrapped_only import WrappedOnly


class SparseMarginMSELoss(WrappedOnly, MarginMSELoss):
    """:class:`~trainers.losses.MarginMSELoss` for a sparse model: match the teacher's score margins.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained (the student).
        similarity: ``"dot"`` (default) or ``"cosine"``.

    Inputs:
        ===============================================  ============================================
        columns                                          label
        ===============================================  ============================================
        (query, positive, negative_1, ..., negative_n)   teacher margins ``(batch, n)`` (or
                                                         ``(batch,)`` when n = 1), or teacher scores
                                                         ``(batch, n + 1)`` with the positive first
        ===============================================  ============================================

        Only inside :class:`SpladeLoss` or :class:`CSRLoss`; alone, ``forward`` raises ConfigError.

    Reference:
        Hofstätter et al., 2020, https://arxiv.org/abs/2010.02666; for SPLADE: Formal et al., "From
        Distillation to Hard Negative Sampling", 2022, https://arxiv.org/abs/2205.04733.

    Relations:
        :class:`SparseDistillKLDivLoss` matches the teacher's softmax instead of its margins;
        :class:`SparseMultipleNegativesRankingLoss` needs no teacher.

    Example:
        ::

            inner = losses.SparseMarginMSELoss(model)
            loss = losses.SpladeLoss(model, inner, document_regularizer_weight=3e-5, query_regularizer_weight=5e-5)
            value = loss([model.tokenize(q), model.tokenize(pos), model.tokenize(neg)], teacher_margins)
    """

    def __init__(self, model: nn.Module, *, similarity: Literal["dot", "cosine"] = "dot") -> None:
        super().__init__(model, similarity=similarity)  # type: ignore[arg-type]
