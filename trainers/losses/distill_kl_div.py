"""DistillKLDivLoss: match the student's softmax over candidates to a teacher's (score distillation)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import DataError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, positive_number
from trainers.losses._distances import pairwise_cosine, pairwise_dot


class DistillKLDivLoss(EmbeddingLoss):
    """KL divergence from the teacher's to the student's softmax over each row's candidates.

    For row ``i`` the student scores the query against its positive and its negatives,
    ``s_ij = sim(query_i, candidate_ij) / student_temperature``; the teacher's scores (the labels)
    become ``p_ij = softmax_j(t_ij / teacher_temperature)``. The loss is
    ``KL(p_i || softmax(s_i))`` summed over candidates, averaged over rows, times
    ``student_temperature ** 2`` (keeps gradient sizes comparable across temperatures, as in Hinton
    et al.). Unlike :class:`MarginMSELoss`, only the teacher's ranking and relative confidence are
    transferred, not its score scale.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (the student).
        similarity: the student's score, ``"dot"`` (default) or ``"cosine"``.
        temperature: divides both sides' scores before the softmax (> 0, default 1: unscaled).
        student_temperature: overrides ``temperature`` for the student's scores (and the loss scale).
        teacher_temperature: overrides ``temperature`` for the teacher's scores; pick it from the
            spread of the teacher's scores (a row whose spread exceeds ~100 times it underflows to a
            one-hot target).

    Inputs:
        ===============================================  ============================================
        columns                                          label
        ===============================================  ============================================
        (query, positive, negative_1, ..., negative_n)   teacher scores ``(batch, n + 1)``: the
                                                         teacher's score of the query with the
                                                         positive, then with each negative
        ===============================================  ============================================

        At least one negative: a softmax over a single candidate is constant.

    Reference:
        Lin, Yang & Lin, "Distilling Dense Representations for Ranking using Tightly-Coupled
        Teachers", 2020, https://arxiv.org/abs/2010.11386; Hinton, Vinyals & Dean, "Distilling the
        Knowledge in a Neural Network", 2015, https://arxiv.org/abs/1503.02531.

    Relations:
        :class:`MarginMSELoss` regresses the teacher's score margins instead (keeps its scale);
        :class:`EmbedDistillLoss` and :class:`MSELoss` distil the teacher's embeddings rather than
        its scores.

    Example:
        ::

            scores = torch.stack(
                [torch.tensor(cross_encoder.predict(list(zip(queries, docs)))) for docs in (positives, negatives)],
                dim=1,
            )
            loss = losses.DistillKLDivLoss(model, similarity="cosine", temperature=0.05)
            features = [model.tokenize(queries), model.tokenize(positives), model.tokenize(negatives)]
            value = loss(features, scores)
    """

    min_columns = 3
    max_columns = None
    columns = "(query, positive, negative_1, ..., negative_n)"

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        similarity: Literal["dot", "cosine"] = "dot",
        temperature: float = 1.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        super().__init__(model)
        self.similarity: Literal["dot", "cosine"] = choice(self._name, "similarity", similarity, ("dot", "cosine"))  # type: ignore[assignment]
        self.temperature = positive_number(self._name, "temperature", temperature)
        self.student_temperature = (
            self.temperature
            if student_temperature is None
            else positive_number(self._name, "student_temperature", student_temperature)
        )
        self.teacher_temperature = (
            self.temperature
            if teacher_temperature is None
            else positive_number(self._name, "teacher_temperature", teacher_temperature)
        )

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The batch-mean KL divergence, given ``[queries, positives, negatives_1, ...]`` embeddings."""
        query, *candidates = self._check(embeddings)
        teacher = self._teacher_scores(labels, query.shape[0], len(candidates)).to(query.device)
        score = pairwise_dot if self.similarity == "dot" else pairwise_cosine
        student = torch.stack([score(query, candidate) for candidate in candidates], dim=1)
        student_log_probs = torch.log_softmax(student / self.student_temperature, dim=1)
        teacher_probs = torch.softmax(teacher / self.teacher_temperature, dim=1)
        # kl_div with reduction="batchmean": sum over candidates, mean over rows; 0 * log 0 counts as 0.
        loss = F.kl_div(student_log_probs, teacher_probs, reduction="batchmean")
        return loss * self.student_temperature**2

    def _teacher_scores(self, labels: Tensor | None, rows: int, candidates: int) -> Tensor:
        expected = f"teacher scores of shape ({rows}, {candidates}) (positive first, then each negative)"
        if labels is None:
            raise DataError(f"{self._name} needs labels ({expected}); got labels=None")
        if not isinstance(labels, Tensor) or labels.is_complex() or labels.dtype == torch.bool:
            found = f"dtype {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
            raise DataError(f"{self._name} expects labels as a float tensor of {expected}, found {found}")
        if tuple(labels.shape) != (rows, candidates):
            raise DataError(f"{self._name} expects {expected}, found {tuple(labels.shape)}")
        labels = labels.detach().float()
        if torch.isnan(labels).any() or torch.isposinf(labels).any():
            raise DataError(
                f"{self._name}: the teacher scores contain NaN or +inf; use -inf only to exclude a candidate"
            )
        if torch.isneginf(labels).all(dim=1).any():
            raise DataError(f"{self._name}: a row's teacher scores are all -inf; keep at least one candidate")
        return labels

    def get_config_dict(self) -> dict[str, Any]:
        """``similarity``, ``temperature``, and the per-side temperatures when they differ from it."""
        config: dict[str, Any] = {"similarity": self.similarity, "temperature": self.temperature}
        if self.student_temperature != self.temperature:
            config["student_temperature"] = self.student_temperature
        if self.teacher_temperature != self.temperature:
            config["teacher_temperature"] = self.teacher_temperature
        return config
