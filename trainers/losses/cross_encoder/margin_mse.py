"""MarginMSELoss (cross-encoder): match a teacher's score margins between a positive and negatives."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import DataError
from trainers.losses.cross_encoder._base import CrossEncoderLoss, LogitActivation, activate


class MarginMSELoss(CrossEncoderLoss):
    """Mean squared error between the student's margins ``score(q, positive) - score(q, negative_j)`` and
    the teacher's margins for the same pairs.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        activation: applied to the logits before taking margins: ``"identity"`` (default), ``"sigmoid"``,
            ``"tanh"``.

    Inputs:
        =================================================  ===========================================
        columns                                            label
        =================================================  ===========================================
        (query, positive, negative_1, ..., negative_n)     ``(batch, n)`` teacher margins, or
                                                           ``(batch, n + 1)`` teacher scores (positive
                                                           first), or ``(batch,)`` margins when n = 1
        =================================================  ===========================================

    Reference:
        Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
        Distillation", 2020, https://arxiv.org/abs/2010.02666.

    Relations:
        :class:`MSELoss` matches the teacher's scores themselves; the bi-encoder
        :class:`trainers.losses.MarginMSELoss` distils the same margins into an embedding model.

    Example:
        ::

            scores = teacher.predict([(q, p), (q, n)], activation="identity")   # positive, negative
            loss = MarginMSELoss(student)
            value = loss([[q], [p], [n]], torch.tensor([[scores[0], scores[1]]]))
    """

    min_columns = 3
    max_columns = None
    columns = "(query, positive, negative_1, ..., negative_n)"

    def __init__(self, model: CrossEncoder, *, activation: LogitActivation = "identity") -> None:
        super().__init__(model, activation=activation)

    def forward(self, texts: list[list[str]], labels: Tensor | None = None) -> Tensor:
        """Score (query, positive) and each (query, negative_j) pair and return the scalar loss.

        Raises:
            DataError: fewer than three text columns, a non-string text, labels missing or of the wrong shape.
        """
        columns = self.check_columns(texts)
        queries, candidates = columns[0], columns[1:]
        batch = len(queries)
        pairs = [(query, doc) for column in candidates for query, doc in zip(queries, column, strict=True)]
        logits = self.score_pairs(pairs, batch)
        with self.float32():
            # (batch, 1 + n): the positive's score first, then each negative's.
            return self.compute_loss_from_logits(logits.float().reshape(len(candidates), batch).T, labels)

    def compute_loss_from_logits(self, logits: Tensor, labels: Tensor | None) -> Tensor:
        """The loss from raw logits ``(batch, 1 + n)`` (positive first) and the teacher's margins or scores."""
        scores = activate(logits, self.activation)
        margins = scores[:, :1] - scores[:, 1:]
        targets = self._target_margins(labels, *margins.shape).to(margins.device).detach()
        return F.mse_loss(margins, targets)

    def _target_margins(self, labels: Any, batch: int, negatives: int) -> Tensor:
        expected = f"({batch}, {negatives}) margins or ({batch}, {negatives + 1}) scores"
        if negatives == 1:
            expected += f" or ({batch},) margins"
        if labels is None:
            raise DataError(f"{self._name} needs labels ({expected}); got labels=None")
        if isinstance(labels, (list, tuple)) and all(isinstance(t, Tensor) for t in labels):
            labels = torch.stack(list(labels))
        if not isinstance(labels, Tensor):
            raise DataError(f"{self._name} expects labels as a tensor of {expected}, found {type(labels).__name__}")
        labels = labels.float()
        if labels.shape == (batch, negatives + 1):
            labels = labels[:, :1] - labels[:, 1:]
        elif labels.shape == (batch,) and negatives == 1:
            labels = labels.unsqueeze(1)
        if labels.shape != (batch, negatives):
            raise DataError(f"{self._name} expects labels of {expected}, found shape {tuple(labels.shape)}")
        if not torch.isfinite(labels).all():
            row = int((~torch.isfinite(labels)).nonzero()[0, 0])
            raise DataError(f"{self._name}: the label of row {row} is not finite: {labels[row].tolist()}")
        return labels

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation": self.activation}
