"""BinaryCrossEntropyLoss: a relevance logit per (query, document) pair, trained towards 0/1 labels."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses._checks import float_labels, positive_number
from trainers.losses.cross_encoder._base import LogitActivation, PairLoss, activate


class BinaryCrossEntropyLoss(PairLoss):
    """Binary cross-entropy with logits between each pair's score and its label.

    The standard way to train a re-ranker: (query, relevant document) pairs labelled 1 and (query, hard
    negative) pairs labelled 0; soft labels in between (e.g. a teacher's probability) work too.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        activation: applied to the logits before the loss: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.
        pos_weight: weight of the positive term (e.g. the negatives-per-positive ratio); default none.

    Inputs:
        ==========================  =====================================
        columns                     label
        ==========================  =====================================
        (query, document)           1 if relevant, 0 if not
        (text_A, text_B)            a float score in [0, 1]
        ==========================  =====================================

    Reference:
        Nogueira & Cho, "Passage Re-ranking with BERT", 2019, https://arxiv.org/abs/1901.04085.

    Relations:
        For several classes use :class:`CrossEntropyLoss`; to regress onto a teacher's unbounded
        scores use :class:`MSELoss`; with query groups of graded labels use a listwise loss
        (:class:`LambdaLoss`, :class:`ListNetLoss`).

    Example:
        ::

            loss = BinaryCrossEntropyLoss(model)
            value = loss([["what is a cat?", "what is a cat?"], ["A cat is a small feline.", "Paris is in France."]],
                         torch.tensor([1.0, 0.0]))
    """

    def __init__(
        self, model: CrossEncoder, *, activation: LogitActivation = "identity", pos_weight: float | None = None
    ) -> None:
        super().__init__(model, activation=activation)
        self.pos_weight = None if pos_weight is None else positive_number(self._name, "pos_weight", pos_weight)

    def compute_loss_from_logits(self, logits: Tensor, labels: Tensor | None) -> Tensor:
        """Mean binary cross-entropy of ``activation(logits)`` (``(batch, 1)`` or ``(batch,)``) against ``labels``."""
        scores = activate(logits.reshape(-1), self.activation)
        targets = float_labels(self._name, labels, scores.shape[0], low=0.0, high=1.0).to(scores.device)
        weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=scores.device)
        return F.binary_cross_entropy_with_logits(scores, targets, pos_weight=weight)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation": self.activation, "pos_weight": self.pos_weight}
