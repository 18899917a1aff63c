"""SparseDistillKLDivLoss: KL-divergence score distillation for sparse models (dot product, temperature 2)."""

from __future__ import annotations

from typing import Literal

from torch import nn

from trainers.losses.distill_kl_div import DistillKLDivLoss
from trainers.losses.sparse._wrapped_only import WrappedOnly


class SparseDistillKLDivLoss(WrappedOnly, DistillKLDivLoss):
    """:class:`~trainers.losses.DistillKLDivLoss` with the sparse defaults: dot product, ``temperature=2``.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained (the student).
        similarity: ``"dot"`` (default) or ``"cosine"``.
        temperature: divides both sides' scores before the softmax (> 0, default 2).
        student_temperature, teacher_temperature: per-side overrides of ``temperature``.

    Inputs:
        ===============================================  ============================================
        columns                                          label
        ===============================================  ============================================
        (query, positive, negative_1, ..., negative_n)   teacher scores ``(batch, n + 1)``, the
                                                         positive first
        ===============================================  ============================================

        Only inside :class:`SpladeLoss` or :class:`CSRLoss`; alone, ``forward`` raises ConfigError.

    Reference:
        Lin, Yang & Lin, 2020, https://arxiv.org/abs/2010.11386; Formal et al., "From Distillation to
        Hard Negative Sampling", 2022, https://arxiv.org/abs/2205.04733.

    Relations:
        :class:`SparseMarginMSELoss` regresses the teacher's margins instead (keeps its scale).

    Example:
        ::

            inner = losses.SparseDistillKLDivLoss(model, temperature=2.0)
            loss = losses.SpladeLoss(model, inner, document_regularizer_weight=3e-5, query_regularizer_weight=5e-5)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        similarity: Literal["dot", "cosine"] = "dot",
        temperature: float = 2.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        super().__init__(
            model,  # type: ignore[arg-type]
            similarity=similarity,
            temperature=temperature,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
        )
