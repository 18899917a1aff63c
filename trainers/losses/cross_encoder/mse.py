"""MSELoss (cross-encoder): regress each pair's score onto a target score (distillation from a teacher)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from trainers.losses._checks import float_labels
from trainers.losses.cross_encoder._base import LogitActivation, PairLoss, activate


class MSELoss(PairLoss):
    """Mean squared error between each pair's score and its target score.

    Used to distil a teacher cross-encoder into a smaller student: label each pair with the teacher's
    score (``teacher.predict(pairs, activation=...)``) and train the student towards it.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        activation: applied to the logits before the loss: ``"identity"`` (default), ``"sigmoid"`` (when the
            targets are probabilities in [0, 1]), ``"tanh"``.

    Inputs:
        ==========================  ====================================
        columns                     label
        ==========================  ====================================
        (text_A, text_B)            the target score (a finite float)
        ==========================  ====================================

    Reference:
        Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
        Distillation", 2020, https://arxiv.org/abs/2010.02666.

    Relations:
        :class:`MarginMSELoss` distils the teacher's score *differences* between a positive and negatives,
        which matters less about the teacher's scale; for 0/1 labels use :class:`BinaryCrossEntropyLoss`.

    Example:
        ::

            targets = torch.from_numpy(teacher.predict(pairs, activation="identity"))
            loss = MSELoss(student)
            value = loss([[q for q, _ in pairs], [d for _, d in pairs]], targets)
    """

    def __init__(self, model: CrossEncoder, *, activation: LogitActivation = "identity") -> None:
        super().__init__(model, activation=activation)

    def compute_loss_from_logits(self, logits: Tensor, labels: Tensor | None) -> Tensor:
        """Mean squared error of ``activation(logits)`` (``(batch, 1)`` or ``(batch,)``) against ``labels``."""
        scores = activate(logits.reshape(-1), self.activation)
        targets = float_labels(self._name, labels, scores.shape[0]).to(scores.device).detach()
        return F.mse_loss(scores, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation": self.activation}
