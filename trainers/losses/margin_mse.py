"""MarginMSELoss: match the student's score margins (positive minus negative) to a teacher's."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import DataError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice
from trainers.losses._distances import pairwise_cosine, pairwise_dot


class MarginMSELoss(EmbeddingLoss):
    """MSE between ``sim(q, pos) - sim(q, neg_k)`` and the teacher's margin for the same row and negative.

    Only the margins are matched, so the student's scores may sit on another scale than the
    teacher's (typically a cross-encoder's logits).

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (the student).
        similarity: ``"dot"`` (default, as in the paper) or ``"cosine"``.

    Inputs:
        ===============================================  ============================================
        columns                                          label
        ===============================================  ============================================
        (query, positive, negative_1, ..., negative_n)   teacher margins ``(batch, n)`` (or
                                                         ``(batch,)`` when n = 1), or teacher scores
                                                         ``(batch, n + 1)`` with the positive first
        ===============================================  ============================================

    Reference:
        Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture
        Knowledge Distillation", 2020, https://arxiv.org/abs/2010.02666.

    Relations:
        :class:`MSELoss` distils a teacher's embeddings instead of its scores;
        :class:`MultipleNegativesRankingLoss` trains on the same rows without a teacher.

    Example:
        ::

            margins = cross_encoder.predict(list(zip(queries, positives))) - cross_encoder.predict(
                list(zip(queries, negatives))
            )
            loss = losses.MarginMSELoss(model)
            features = [model.tokenize(queries), model.tokenize(positives), model.tokenize(negatives)]
            value = loss(features, torch.tensor(margins))
    """

    min_columns = 3
    max_columns = None
    columns = "(query, positive, negative_1, ..., negative_n)"

    def __init__(self, model: SentenceEncoder, *, similarity: Literal["dot", "cosine"] = "dot") -> None:
        super().__init__(model)
        self.similarity: Literal["dot", "cosine"] = choice(self._name, "similarity", similarity, ("dot", "cosine"))  # type: ignore[assignment]

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """MSE of the student's margins ``(batch, n)`` against the teacher's."""
        query, positive, *negatives = self._check(embeddings)
        score = pairwise_dot if self.similarity == "dot" else pairwise_cosine
        target = self._teacher_margins(labels, query.shape[0], len(negatives)).to(query.device)
        to_positive = score(query, positive)
        margins = torch.stack([to_positive - score(query, negative) for negative in negatives], dim=1)
        return F.mse_loss(margins, target)

    def _teacher_margins(self, labels: Tensor | None, rows: int, negatives: int) -> Tensor:
        expected = (
            f"teacher margins of shape ({rows}, {negatives}) or teacher scores of shape ({rows}, {negatives + 1})"
        )
        if negatives == 1:
            expected = f"teacher margins of shape ({rows},) or ({rows}, 1), or teacher scores of shape ({rows}, 2)"
        if labels is None:
            raise DataError(f"{self._name} needs labels ({expected}); got labels=None")
        if not isinstance(labels, Tensor) or labels.is_complex() or labels.dtype == torch.bool:
            found = f"dtype {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
            raise DataError(f"{self._name} expects labels as a float tensor of {expected}, found {found}")
        labels = labels.detach().float()
        if labels.shape == (rows, negatives + 1):
            labels = labels[:, :1] - labels[:, 1:]
        elif labels.shape == (rows,) and negatives == 1:
            labels = labels.unsqueeze(1)
        elif labels.shape != (rows, negatives):
            raise DataError(f"{self._name} expects {expected}, found {tuple(labels.shape)}")
        if not torch.isfinite(labels).all():
            raise DataError(f"{self._name}: the teacher scores contain NaN or infinite values")
        return labels

    def get_config_dict(self) -> dict[str, Any]:
        """``similarity``."""
        return {"similarity": self.similarity}
