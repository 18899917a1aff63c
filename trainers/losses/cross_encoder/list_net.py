"""ListNetLoss: cross-entropy between the softmax of the labels and the softmax of the scores, per query."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses.cross_encoder._base import LogitActivation
from trainers.losses.cross_encoder._listwise import LISTWISE_INPUTS, ListwiseLoss

# Padding scores low enough to take no probability mass, yet finite so that 0 * padding stays 0.
_PAD_SCORE = -1e16


class ListNetLoss(ListwiseLoss):
    __doc__ = f"""ListNet: for each query, the cross-entropy between the "top-one" distributions
    ``softmax(labels)`` and ``softmax(scores)`` over its documents, averaged over queries.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        activation: applied to the logits first: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.
        mini_batch_size: (query, document) pairs per forward pass; default: the number of queries.

    Inputs:
        {LISTWISE_INPUTS.strip()}

    Reference:
        Cao et al., "Learning to Rank: From Pairwise Approach to Listwise Approach", ICML 2007,
        https://doi.org/10.1145/1273496.1273513.

    Relations:
        :class:`ListMLELoss` / :class:`PListMLELoss` model the probability of the whole ordering;
        :class:`LambdaLoss` optimises nDCG directly and is usually the strongest listwise choice.

    Example:
        ::

            loss = ListNetLoss(model)
            value = loss([["what is a cat?"], ["A cat is a feline."], ["Paris is in France."]],
                         torch.tensor([[1.0, 0.0]]))
    """

    def __init__(
        self, model: CrossEncoder, *, activation: LogitActivation = "identity", mini_batch_size: int | None = None
    ) -> None:
        super().__init__(model, activation=activation, mini_batch_size=mini_batch_size)

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """Mean over queries of ``-sum softmax(labels) * log_softmax(scores)``, padding masked out."""
        scores = scores.masked_fill(~mask, _PAD_SCORE)
        targets = labels.masked_fill(~mask, float("-inf")).softmax(dim=1)
        return F.cross_entropy(scores, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation": self.activation, "mini_batch_size": self.mini_batch_size}
