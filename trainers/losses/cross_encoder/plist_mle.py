"""PListMLELoss: the likelihood of the true ordering under a Plackett-Luce model, weighted by position."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses._checks import choice, flag
from trainers.losses.cross_encoder._base import LogitActivation
from trainers.losses.cross_encoder._listwise import LISTWISE_INPUTS, ListwiseLoss

LambdaWeight = Literal["exponential"]


def exponential_position_weights(mask: Tensor) -> Tensor:
    """``2^(n - rank) - 1`` for the ranks ``1..n`` of each query's ``n`` documents (0 on padding).

    For lists longer than 127 documents the exponent is shifted down (the weights are then relative) so
    that float32 does not overflow.
    """
    count = mask.sum(dim=1, keepdim=True)
    ranks = torch.arange(1, mask.shape[1] + 1, device=mask.device).expand_as(mask)
    shift = (count - 127).clamp_min(0)
    weights = torch.pow(2.0, count - ranks - shift) - torch.pow(2.0, -shift)
    return weights * mask


class PListMLELoss(ListwiseLoss):
    __doc__ = f"""Position-aware ListMLE: the negative log-likelihood of the documents' true ordering under a
    Plackett-Luce model of the scores, each step weighted so that mistakes at the top cost most.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        lambda_weight: ``"exponential"`` (default): step ``r`` of ``n`` weighs ``2^(n - r) - 1``, normalised
            per query; ``None``: every step weighs 1 (plain ListMLE).
        activation: applied to the logits first: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.
        mini_batch_size: (query, document) pairs per forward pass; default: the number of queries.
        respect_input_order: True (default): the documents are already listed best first, so the input
            order is the true ordering; False: sort each query's documents by label first.

    Inputs:
        {LISTWISE_INPUTS.strip()}

    Reference:
        Lan et al., "Position-Aware ListMLE: A Sequential Learning Process for Ranking", UAI 2014,
        https://auai.org/uai2014/proceedings/individuals/164.pdf.

    Relations:
        :class:`ListMLELoss` is this loss without position weights; :class:`ListNetLoss` and
        :class:`LambdaLoss` are the other listwise losses.

    Example:
        ::

            loss = PListMLELoss(model)
            value = loss([["what is a cat?"], ["A cat is a feline."], ["Paris is in France."]],
                         torch.tensor([[1.0, 0.0]]))
    """

    def __init__(
        self,
        model: CrossEncoder,
        *,
        lambda_weight: LambdaWeight | None = "exponential",
        activation: LogitActivation = "identity",
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(model, activation=activation, mini_batch_size=mini_batch_size)
        self.lambda_weight = (
            None if lambda_weight is None else choice(self._name, "lambda_weight", lambda_weight, ("exponential",))
        )
        self.respect_input_order = flag(self._name, "respect_input_order", respect_input_order)
        self.eps = 1e-10

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """Mean over queries of the (weighted) Plackett-Luce negative log-likelihood of the true ordering."""
        if not self.respect_input_order:
            _, order = labels.masked_fill(~mask, float("-inf")).sort(descending=True, dim=1)
            scores = torch.gather(scores, 1, order)
            sorted_mask = torch.gather(mask, 1, order)
        else:
            sorted_mask = mask
        # log P(step r) = s_r - logsumexp(s_r, ..., s_n): a reversed cumulative logsumexp.
        padded = scores.masked_fill(~sorted_mask, torch.finfo(scores.dtype).min)
        log_normalizers = torch.flip(torch.logcumsumexp(torch.flip(padded, [1]), dim=1), [1])
        log_probs = scores - log_normalizers
        if self.lambda_weight is not None:
            weights = exponential_position_weights(mask)
            log_probs = log_probs * (weights / (weights.sum(dim=1, keepdim=True) + self.eps))
        per_query = -log_probs.masked_fill(~sorted_mask, 0.0).sum(dim=1)
        if not torch.any(per_query):
            return (scores * 0.0).sum()
        return per_query.mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "lambda_weight": self.lambda_weight,
            "activation": self.activation,
            "mini_batch_size": self.mini_batch_size,
            "respect_input_order": self.respect_input_order,
        }
