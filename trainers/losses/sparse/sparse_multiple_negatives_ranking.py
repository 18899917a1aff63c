"""SparseMultipleNegativesRankingLoss: in-batch negatives for sparse models, scored by dot product."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from trainers.losses._distances import Similarity
from trainers.losses.multiple_negatives_ranking import Direction, MultipleNegativesRankingLoss, PartitionMode
from trainers.losses.sparse._wrapped_only import WrappedOnly


class SparseMultipleNegativesRankingLoss(WrappedOnly, MultipleNegativesRankingLoss):
    """:class:`~trainers.losses.MultipleNegativesRankingLoss` with the sparse defaults: dot product, ``scale=1``.

    Sparse vectors are compared by their dot product (what a sparse index computes), and their scores are
    already large, so no temperature is applied by default.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.
        scale: multiplies the scores before the softmax; > 0, default 1.
        similarity: ``"dot"`` (default) or ``"cosine"``, ``"euclidean"``, ``"manhattan"``.
        directions, partition_mode, gather_across_devices: as in
            :class:`~trainers.losses.MultipleNegativesRankingLoss`.

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

        Only inside :class:`SpladeLoss` or :class:`CSRLoss`; alone, ``forward`` raises ConfigError.

    Reference:
        Formal et al., "SPLADE v2", 2021, https://arxiv.org/abs/2109.10086; the loss: Henderson et al.,
        2017, https://arxiv.org/abs/1705.00652.

    Relations:
        With teacher scores use :class:`SparseMarginMSELoss` or :class:`SparseDistillKLDivLoss`.

    Example:
        ::

            loss = losses.SpladeLoss(
                model,
                losses.SparseMultipleNegativesRankingLoss(model),
                document_regularizer_weight=3e-5,
                query_regularizer_weight=5e-5,
            )
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        scale: float = 1.0,
        similarity: Similarity = "dot",
        directions: Sequence[Direction] = ("query_to_doc",),
        partition_mode: PartitionMode = "joint",
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,  # type: ignore[arg-type]
            scale=scale,
            similarity=similarity,
            directions=directions,
            partition_mode=partition_mode,
            gather_across_devices=gather_across_devices,
        )
