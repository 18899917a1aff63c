"""CachedSpladeLoss: SpladeLoss over big batches at the activation memory of a mini-batch (GradCache)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import integer_at_least
from trainers.losses._gradcache import CachedEmbeddingLoss
from trainers.losses.sparse.splade import SpladeLoss


class CachedSpladeLoss(CachedEmbeddingLoss, SpladeLoss):
    """:class:`SpladeLoss` with GradCache: the same loss and gradients, the memory of ``mini_batch_size`` rows.

    The batch is embedded ``mini_batch_size`` rows at a time without a graph, the task loss and the
    regularisers run on the whole batch's embeddings, and during ``backward`` each mini-batch is embedded
    again with a graph to carry the cached gradients into the model (a second forward pass per step).
    In-batch negatives and the FLOPS batch means see the whole batch, which is why the batch cannot simply
    be split into accumulation steps.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.
        loss, loss_kwargs, document_regularizer_weight, query_regularizer_weight, document_regularizer,
            query_regularizer, document_regularizer_threshold, query_regularizer_threshold,
            use_document_regularizer_only: as in :class:`SpladeLoss`.
        mini_batch_size: rows embedded at a time; >= 1, default 32. It does not change the loss.

    Inputs:
        Those of the wrapped loss; the first column holds the queries.

    Reference:
        Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup", 2021,
        https://arxiv.org/abs/2101.06983; Formal et al., 2022, https://arxiv.org/abs/2205.04733.

    Relations:
        Equal to :class:`SpladeLoss` on the same batch; use that one when the batch fits in memory (faster).

    Example:
        ::

            loss = losses.CachedSpladeLoss(
                model,
                losses.SparseMultipleNegativesRankingLoss(model),
                document_regularizer_weight=3e-5,
                query_regularizer_weight=5e-5,
                mini_batch_size=16,
            )
    """

    def __init__(
        self,
        model: nn.Module,
        loss: EmbeddingLoss | str,
        *,
        loss_kwargs: Mapping[str, Any] | None = None,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: float | None = None,
        query_regularizer_threshold: float | None = None,
        use_document_regularizer_only: bool = False,
        mini_batch_size: int = 32,
    ) -> None:
        super().__init__(
            model,
            loss,
            loss_kwargs=loss_kwargs,
            document_regularizer_weight=document_regularizer_weight,
            query_regularizer_weight=query_regularizer_weight,
            document_regularizer=document_regularizer,
            query_regularizer=query_regularizer,
            document_regularizer_threshold=document_regularizer_threshold,
            query_regularizer_threshold=query_regularizer_threshold,
            use_document_regularizer_only=use_document_regularizer_only,
        )
        self.mini_batch_size = integer_at_least(self._name, "mini_batch_size", mini_batch_size, 1)

    def get_config_dict(self) -> dict[str, Any]:
        """:meth:`SpladeLoss.get_config_dict` and ``mini_batch_size``."""
        return {**super().get_config_dict(), "mini_batch_size": self.mini_batch_size}
