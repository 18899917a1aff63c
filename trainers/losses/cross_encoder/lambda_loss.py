"""LambdaLoss: pairwise logistic losses weighted by how much swapping the pair changes nDCG."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses._checks import choice, integer_at_least, non_negative_number, positive_number
from trainers.losses.cross_encoder._base import LogitActivation
from trainers.losses.cross_encoder._listwise import LISTWISE_INPUTS, ListwiseLoss

WeightingScheme = Literal["ndcg_loss2pp", "ndcg_loss2", "ndcg_loss1", "lambda_rank", "none"]
WEIGHTING_SCHEMES: tuple[str, ...] = ("ndcg_loss2pp", "ndcg_loss2", "ndcg_loss1", "lambda_rank", "none")
_PAD_SCORE = -1e16


def pair_weights(scheme: str, gain: Tensor, discount: Tensor, *, mu: float = 10.0) -> Tensor:
    """The weight of each (i, j) pair of positions, ``(queries, n, n)`` (or a broadcastable scalar / column).

    ``gain`` holds ``(2^label - 1) / maxDCG`` of the documents in predicted order, ``(queries, n)``;
    ``discount`` holds ``log2(1 + position)``, ``(1, n)``.
    """
    if scheme == "none":
        return torch.tensor(1.0, device=gain.device)
    if scheme == "ndcg_loss1":
        return (gain / discount)[:, :, None]
    gain_gaps = torch.abs(gain[:, :, None] - gain[:, None, :])
    if scheme == "lambda_rank":
        return torch.abs(discount[:, :, None].reciprocal() - discount[:, None, :].reciprocal()) * gain_gaps
    positions = torch.arange(1, gain.shape[1] + 1, device=gain.device)
    gaps = torch.abs(positions[:, None] - positions[None, :])
    # delta_{|i-j|} = |1/D(|i-j|) - 1/D(|i-j|+1)|; the diagonal (gap 0) does not count.
    deltas = torch.abs(discount[0, gaps - 1].abs().reciprocal() - discount[0, gaps].abs().reciprocal())
    deltas.diagonal().zero_()
    ndcg_loss2 = deltas[None, :, :] * gain_gaps
    if scheme == "ndcg_loss2":
        return ndcg_loss2
    return mu * ndcg_loss2 + pair_weights("lambda_rank", gain, discount)


class LambdaLoss(ListwiseLoss):
    __doc__ = f"""LambdaLoss: for each query, a logistic loss on every pair of documents with different labels
    (the better one should score higher), weighted by a metric-driven scheme, averaged over pairs.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        weighting_scheme: ``"ndcg_loss2pp"`` (default: NDCG-Loss2++, ``mu * ndcg_loss2 + lambda_rank``),
            ``"ndcg_loss2"`` (a bound on nDCG), ``"ndcg_loss1"`` (gain over discount, also counts equal
            labels), ``"lambda_rank"`` (|delta nDCG| of swapping the pair) or ``"none"`` (RankNet).
        mu: weight of NDCG-Loss2 in NDCG-Loss2++ (default 10; only used by ``"ndcg_loss2pp"``).
        k: only pairs with one document in the top ``k`` (by score) count; default: all.
        sigma: slope of the logistic on score differences (default 1).
        eps: floor of the ideal DCG, so queries without a relevant document do not divide by zero.
        reduction_log: ``"binary"`` (default, log base 2) or ``"natural"``.
        activation: applied to the logits first: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.
        mini_batch_size: (query, document) pairs per forward pass; default: the number of queries.

    Inputs:
        {LISTWISE_INPUTS.strip()}

    Reference:
        Wang et al., "The LambdaLoss Framework for Ranking Metric Optimization", CIKM 2018,
        https://doi.org/10.1145/3269206.3271784.

    Relations:
        :class:`RankNetLoss` is this loss with ``weighting_scheme="none"``; :class:`ListNetLoss` and
        :class:`PListMLELoss` are the other listwise losses; with binary pairs use
        :class:`BinaryCrossEntropyLoss`.

    Example:
        ::

            loss = LambdaLoss(model)   # NDCG-Loss2++
            value = loss([["what is a cat?"], ["A cat is a feline."], ["Cats purr."], ["Paris is in France."]],
                         torch.tensor([[2.0, 1.0, 0.0]]))
    """

    def __init__(
        self,
        model: CrossEncoder,
        *,
        weighting_scheme: WeightingScheme = "ndcg_loss2pp",
        mu: float = 10.0,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["binary", "natural"] = "binary",
        activation: LogitActivation = "identity",
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, activation=activation, mini_batch_size=mini_batch_size)
        self.weighting_scheme = choice(self._name, "weighting_scheme", weighting_scheme, WEIGHTING_SCHEMES)
        self.mu = non_negative_number(self._name, "mu", mu)
        self.k = None if k is None else integer_at_least(self._name, "k", k, 1)
        self.sigma = positive_number(self._name, "sigma", sigma)
        self.eps = positive_number(self._name, "eps", eps)
        self.reduction_log = choice(self._name, "reduction_log", reduction_log, ("binary", "natural"))

    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """Mean over the counted document pairs of ``-weight * log2 sigmoid(sigma * (s_i - s_j))``."""
        longest = scores.shape[1]
        scores = scores.masked_fill(~mask, _PAD_SCORE)
        labels = labels.masked_fill(~mask, float("-inf"))
        scores_sorted, by_score = scores.sort(descending=True, dim=-1)
        ideal_labels, _ = labels.sort(descending=True, dim=-1)
        labels_by_score = torch.gather(labels, dim=1, index=by_score)

        # Pairs (i, j) of real documents; all but NDCG-Loss1 only count pairs where i is the better one.
        label_gaps = labels_by_score[:, :, None] - labels_by_score[:, None, :]
        counted = torch.isfinite(label_gaps)
        if self.weighting_scheme != "ndcg_loss1":
            counted = counted & (label_gaps > 0)
        k = self.k or longest
        top_k = torch.zeros((longest, longest), dtype=torch.bool, device=scores.device)
        top_k[:k, :] = True
        top_k[:, :k] = True

        labels_by_score = labels_by_score.clamp(min=0.0)
        ideal_labels = ideal_labels.clamp(min=0.0)
        positions = torch.arange(1, longest + 1, device=scores.device)
        discount = torch.log2(1.0 + positions.float())[None, :]
        max_dcg = torch.sum(((torch.pow(2, ideal_labels) - 1) / discount)[:, :k], dim=-1).clamp(min=self.eps)
        gain = (torch.pow(2, labels_by_score) - 1) / max_dcg[:, None]
        weights = pair_weights(self.weighting_scheme, gain, discount, mu=self.mu)

        score_gaps = (scores_sorted[:, :, None] - scores_sorted[:, None, :]).clamp(min=-1e8, max=1e8)
        score_gaps = score_gaps.masked_fill(torch.isnan(score_gaps), 0.0)
        losses = weights * F.logsigmoid(self.sigma * score_gaps)
        if self.reduction_log == "binary":
            losses = losses / math.log(2)
        selected = losses[counted & top_k]
        return -selected.sum() / max(selected.numel(), 1)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "weighting_scheme": self.weighting_scheme,
            "mu": self.mu,
            "k": self.k,
            "sigma": self.sigma,
            "eps": self.eps,
            "reduction_log": self.reduction_log,
            "activation": self.activation,
            "mini_batch_size": self.mini_batch_size,
        }
