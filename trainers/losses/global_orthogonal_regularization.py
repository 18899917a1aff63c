"""GlobalOrthogonalRegularizationLoss: spreads unrelated embeddings out like random directions in the space."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, non_negative_number
from trainers.losses._distances import SIMILARITIES, Similarity, similarity_matrix

Aggregation = Literal["mean", "sum"]


class GlobalOrthogonalRegularizationLoss(EmbeddingLoss):
    """A regulariser: texts of one column should be as dissimilar as random directions are.

    For each column, with ``s_ij`` the similarity of rows ``i != j`` and ``d`` the embedding size:
    ``mean_weight * mean(s_ij)^2 + second_moment_weight * relu(mean(s_ij^2) - 1/d)``. Uniformly spread unit
    vectors have a mean similarity of 0 and a second moment of ``1/d``; the terms push the batch toward that.
    The columns' values are averaged (or summed). Add it to a task loss rather than train with it alone.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        similarity: ``"cosine"`` (default), ``"dot"``, ``"euclidean"`` or ``"manhattan"``.
        mean_weight: weight of the squared mean term; >= 0, default 1 (0 turns it off).
        second_moment_weight: weight of the second-moment term; >= 0, default 1 (0 turns it off). At least
            one weight must be > 0.
        aggregation: how the columns' terms combine: ``"mean"`` (default) or ``"sum"``.

    Inputs:
        ==========================  =======================
        columns                     label
        ==========================  =======================
        (text_1[, text_2, ...])     none (ignored if given)
        ==========================  =======================

        Each column is regularised on its own (queries against queries, documents against documents).

    Reference:
        Zhang et al., "Learning Spread-out Local Feature Descriptors", ICCV 2017,
        https://arxiv.org/abs/1708.06320.

    Relations:
        Returns one scalar: the sum of the two terms (the reference implementation returns them as a dict).
        Combine with :class:`MultipleNegativesRankingLoss` by adding the two losses in a custom module, or
        train them as two datasets of a multi-dataset Trainer.

    Example:
        ::

            regulariser = losses.GlobalOrthogonalRegularizationLoss(model)
            value = regulariser([model.tokenize(queries), model.tokenize(documents)], None)
    """

    min_columns = 1
    max_columns = None
    columns = "(text_1, text_2, ...)"

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        similarity: Similarity = "cosine",
        mean_weight: float = 1.0,
        second_moment_weight: float = 1.0,
        aggregation: Aggregation = "mean",
    ) -> None:
        super().__init__(model)
        self.similarity: Similarity = choice(self._name, "similarity", similarity, SIMILARITIES)  # type: ignore[assignment]
        self.mean_weight = non_negative_number(self._name, "mean_weight", mean_weight)
        self.second_moment_weight = non_negative_number(self._name, "second_moment_weight", second_moment_weight)
        if self.mean_weight == 0 and self.second_moment_weight == 0:
            raise ConfigError(f"{self._name}: mean_weight and second_moment_weight are both 0; make one of them > 0")
        self.aggregation: Aggregation = choice(self._name, "aggregation", aggregation, ("mean", "sum"))  # type: ignore[assignment]

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The regulariser of one or more ``(batch, dim)`` columns; ``labels`` are ignored."""
        terms = torch.stack([torch.stack(self.column_terms(e)) for e in self._check(embeddings)])  # (columns, 2)
        combined = terms.sum(dim=0) if self.aggregation == "sum" else terms.mean(dim=0)
        return self.mean_weight * combined[0] + self.second_moment_weight * combined[1]

    def column_terms(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        """(squared mean similarity, ``relu(second moment - 1/dim)``) over the distinct pairs of one column."""
        rows, dim = embeddings.shape
        off_diagonal = ~torch.eye(rows, dtype=torch.bool, device=embeddings.device)
        scores = similarity_matrix(embeddings, embeddings, self.similarity).masked_fill(~off_diagonal, 0.0)
        pairs = max(rows * (rows - 1), 1)  # one row: both terms are a differentiable 0
        mean_term = (scores.sum() / pairs).pow(2)
        second_moment = scores.pow(2).sum() / pairs
        return mean_term, torch.relu(second_moment - 1.0 / dim)

    def get_config_dict(self) -> dict[str, Any]:
        """``similarity``, the two weights and ``aggregation``."""
        return {
            "similarity": self.similarity,
            "mean_weight": self.mean_weight,
            "second_moment_weight": self.second_moment_weight,
            "aggregation": self.aggregation,
        }
