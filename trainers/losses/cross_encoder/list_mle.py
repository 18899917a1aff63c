"""ListMLELoss: the likelihood of the true ordering under a Plackett-Luce model of the scores."""

from __future__ import annotations

from typing import Any

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses.cross_encoder._base import LogitActivation
from trainers.losses.cross_encoder._listwise import LISTWISE_INPUTS
from trainers.losses.cross_encoder.plist_mle import PListMLELoss


class ListMLELoss(PListMLELoss):
    __doc__ = f"""ListMLE: the negative log-likelihood of each query's true document ordering under a
    Plackett-Luce model of the scores (every step weighs the same), averaged over queries.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        activation: applied to the logits first: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.
        mini_batch_size: (query, document) pairs per forward pass; default: the number of queries.
        respect_input_order: True (default): the documents are already listed best first; False: sort
            each query's documents by label first.

    Inputs:
        {LISTWISE_INPUTS.strip()}

    Reference:
        Xia et al., "Listwise Approach to Learning to Rank: Theory and Algorithm", ICML 2008,
        https://doi.org/10.1145/1390156.1390306.

    Relations:
        :class:`PListMLELoss` weights the top positions more, which usually ranks better.

    Example:
        ::

            loss = ListMLELoss(model)
            value = loss([["what is a cat?"], ["A cat is a feline."], ["Paris is in France."]],
                         torch.tensor([[1.0, 0.0]]))
    """

    def __init__(
        self,
        model: CrossEncoder,
        *,
        activation: LogitActivation = "identity",
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(
            model,
            lambda_weight=None,
            activation=activation,
            mini_batch_size=mini_batch_size,
            respect_input_order=respect_input_order,
        )

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["lambda_weight"]
        return config
