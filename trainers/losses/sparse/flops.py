"""FlopsLoss: the sparsity regulariser of SPLADE, the squared L2 norm of the batch's mean activation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._checks import non_negative_number


class FlopsLoss(nn.Module):
    """``sum_j (mean_i w_ij)^2``: penalises vocabulary dimensions that many texts of a batch activate.

    The square of each dimension's mean activation estimates how often it would be touched when scoring
    (the FLOPS of a sparse dot product), so minimising it spreads and thins out the active dimensions.
    With ``threshold``, rows with at most that many non-zero dimensions are left out (multiplied by 0):
    texts already sparse enough are no longer pushed.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.
        threshold: ignore rows with this many active dimensions or fewer; None (default) keeps every row.

    Inputs:
        Not a loss of its own: :class:`SpladeLoss` calls ``compute_loss_from_embeddings`` on the query and
        document embeddings it computed; ``forward`` raises ConfigError.

    Reference:
        Paria et al., "Minimizing FLOPs to Learn Efficient Sparse Representations", ICLR 2020,
        https://arxiv.org/abs/2004.05665; with thresholds (l0 masking): https://arxiv.org/abs/2504.14839.

    Relations:
        The default query and document regulariser of :class:`SpladeLoss` and :class:`CachedSpladeLoss`.

    Example:
        ::

            loss = losses.SpladeLoss(
                model,
                losses.SparseMultipleNegativesRankingLoss(model),
                document_regularizer_weight=3e-5,
                document_regularizer=losses.FlopsLoss(model, threshold=128),
            )
    """

    sparse = True

    def __init__(self, model: nn.Module, *, threshold: float | None = None) -> None:
        super().__init__()
        self.model = model
        if threshold is not None:
            non_negative_number(type(self).__name__, "threshold", threshold)
        self.threshold = threshold

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Raises ConfigError: FlopsLoss is a regulariser inside SpladeLoss, not a loss of its own."""
        del features, labels
        raise ConfigError(
            "FlopsLoss is a regulariser, not a loss of its own: pass it to SpladeLoss as document_regularizer or "
            "query_regularizer (SpladeLoss uses it by default)"
        )

    def compute_loss_from_embeddings(self, embeddings: Tensor) -> Tensor:
        """The FLOPS of ``embeddings`` ``(rows, dim)``: the squared L2 norm of its column means (rows over
        ``threshold`` active dimensions only).

        Raises:
            DataError: ``embeddings`` is not a non-empty 2-D tensor.
        """
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2 or embeddings.shape[0] == 0:
            found = tuple(embeddings.shape) if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise DataError(f"FlopsLoss expects a (rows, dim) tensor of embeddings with rows > 0, found {found}")
        if self.threshold is not None:
            active = (embeddings != 0).sum(dim=1)
            embeddings = embeddings * (active > self.threshold).to(embeddings.dtype).unsqueeze(1)
        return torch.sum(torch.mean(embeddings, dim=0) ** 2)

    def get_config_dict(self) -> dict[str, Any]:
        """``threshold``."""
        return {"threshold": self.threshold}
