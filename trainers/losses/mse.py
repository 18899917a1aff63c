"""MSELoss: regress the student's embeddings onto a teacher's (knowledge distillation)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import DataError
from trainers.losses._base import EmbeddingLoss


class MSELoss(EmbeddingLoss):
    """Mean squared error between each column's embeddings and the teacher embeddings given as labels.

    Typical use is multilingual distillation: rows of (English sentence, its translation), both
    trained towards the teacher's embedding of the English sentence. With several columns the loss
    is the mean of the per-column MSEs.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (the student).

    Inputs:
        ===================  ==========================================================================
        columns              label
        ===================  ==========================================================================
        (text_1, ...)        teacher embeddings: ``(batch, dim)`` shared by every column, or
                             ``(batch, columns, dim)``, one per column; ``dim`` = the student's
        ===================  ==========================================================================

        Compute the teacher embeddings once beforehand (``teacher.encode(texts)``); they are
        treated as constants.

    Reference:
        Reimers & Gurevych, "Making Monolingual Sentence Embeddings Multilingual using Knowledge
        Distillation", EMNLP 2020, https://arxiv.org/abs/2004.09813.

    Relations:
        :class:`MarginMSELoss` distils a teacher's scores of (query, positive, negative) rows instead
        of its embeddings, and works when the teacher is a cross-encoder.

    Example:
        ::

            teacher_embeddings = teacher.encode(english, convert_to="torch")
            loss = losses.MSELoss(student)
            features = [student.tokenize(english), student.tokenize(german)]
            value = loss(features, teacher_embeddings)
    """

    min_columns = 1
    max_columns = None
    columns = "(text_1, ..., text_n)"

    def __init__(self, model: SentenceEncoder) -> None:
        super().__init__(model)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Mean over columns of the MSE between that column's embeddings and its teacher embeddings."""
        embeddings = self._check(embeddings)
        teachers = self._teacher_columns(embeddings, labels)
        per_column = [F.mse_loss(student, teacher) for student, teacher in zip(embeddings, teachers, strict=True)]
        return torch.stack(per_column).mean()

    def _teacher_columns(self, embeddings: list[Tensor], labels: Tensor | None) -> list[Tensor]:
        rows, dim = embeddings[0].shape
        expected = f"teacher embeddings of shape ({rows}, {dim}) or ({rows}, {len(embeddings)}, {dim})"
        if labels is None:
            raise DataError(f"{self._name} needs labels ({expected}); got labels=None")
        if not isinstance(labels, Tensor) or not labels.is_floating_point():
            found = f"dtype {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
            raise DataError(f"{self._name} expects labels as a float tensor of {expected}, found {found}")
        if labels.dim() == 2 and labels.shape == (rows, dim):
            teachers = [labels] * len(embeddings)
        elif labels.dim() == 3 and labels.shape == (rows, len(embeddings), dim):
            teachers = list(labels.unbind(dim=1))
        else:
            raise DataError(f"{self._name} expects {expected}, found {tuple(labels.shape)}")
        if not torch.isfinite(labels).all():
            raise DataError(f"{self._name}: the teacher embeddings contain NaN or infinite values")
        return [t.detach().to(device=embeddings[0].device, dtype=embeddings[0].dtype) for t in teachers]

    def get_config_dict(self) -> dict[str, Any]:
        """No hyper-parameters."""
        return {}
