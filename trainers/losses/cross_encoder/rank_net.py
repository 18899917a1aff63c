"""RankNetLoss: a logistic loss on every pair of a query's documents with different labels."""

from __future__ import annotations

from typing import Any, Literal

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses.cross_encoder._base import LogitActivation
from trainers.losses.cross_encoder._listwise import LISTWISE_INPUTS
from trainers.losses.cross_encoder.lambda_loss import LambdaLoss


class RankNetLoss(LambdaLoss):
    __doc__ = f"""RankNet: for each query, ``-log2 sigmoid(sigma * (s_i - s_j))`` over every pair of documents
    where ``i`` has the higher label, averaged over pairs (no metric weighting).

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        k: only pairs with one document in the top ``k`` (by score) count; default: all.
        sigma: slope of the logistic on score differences (default 1).
        eps: floor of the ideal DCG (kept for symmetry with :class:`LambdaLoss`; unused by the maths here).
        reduction_log: ``"binary"`` (default, log base 2) or ``"natural"``.
        activation: applied to the logits first: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.
        mini_batch_size: (query, document) pairs per forward pass; default: the number of queries.

    Inputs:
        {LISTWISE_INPUTS.strip()}

    Reference:
        Burges et al., "Learning to Rank using Gradient Descent", ICML 2005,
        https://doi.org/10.1145/1102351.1102363.

    Relations:
        :class:`LambdaLoss` weights each pair by its effect on nDCG, which usually ranks better.

    Example:
        ::

            loss = RankNetLoss(model)
            value = loss([["what is a cat?"], ["A cat is a feline."], ["Paris is in France."]],
                         torch.tensor([[1.0, 0.0]]))
    """

    def __init__(
        self,
        model: CrossEncoder,
        *,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["binary", "natural"] = "binary",
        activation: LogitActivation = "identity",
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            weighting_scheme="none",
            k=k,
            sigma=sigma,
            eps=eps,
            reduction_log=reduction_log,
            activation=activation,
            mini_batch_size=mini_batch_size,
        )

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["weighting_scheme"], config["mu"]
        return config
