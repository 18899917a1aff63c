"""CoSENTLoss: pairs whose gold score is higher must get a higher similarity (a ranking loss on scores)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import float_labels, positive_number
from trainers.losses._distances import pairwise_cosine


class CoSENTLoss(EmbeddingLoss):
    """``log(1 + sum exp(scale * (s_j - s_i)))`` over every two pairs ``i, j`` of the batch with ``label_i > label_j``.

    ``s_i`` is the cosine similarity of pair ``i``. Only the order of the gold scores matters: the loss
    is small when the similarities are ranked like the labels, whatever their absolute values.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        scale: multiplies the similarity differences (``1 / temperature``); > 0, default 20.

    Inputs:
        ===============================================  =====================================
        columns                                          label
        ===============================================  =====================================
        (sentence_A, sentence_B)                         float similarity score (any scale)
        (anchor, positive, negative_1, ..., negative_n)  none, or a float score per row
        ===============================================  =====================================

        With three or more columns each row becomes pairs: (anchor, positive) labelled with the row's
        score (1 when labels are None) and (anchor, negative_k) labelled ``1 - score``.

    Reference:
        Su Jianlin, "CoSENT: a more efficient sentence vector scheme than Sentence-BERT", 2022,
        https://kexue.fm/archives/8847.

    Relations:
        :class:`AnglELoss` is this loss with the angle similarity, which keeps a useful gradient near
        cosines of +-1; :class:`CosineSimilarityLoss` regresses the scores themselves (usually weaker).

    Example:
        ::

            loss = losses.CoSENTLoss(model, scale=20.0)
            features = [model.tokenize(first_sentences), model.tokenize(second_sentences)]
            value = loss(features, torch.tensor(scores))  # any monotone scale, e.g. STS 0-5
    """

    min_columns = 2
    max_columns = None
    columns = "(sentence_A, sentence_B) or (anchor, positive, negative_1, ...)"

    def __init__(self, model: SentenceEncoder, *, scale: float = 20.0) -> None:
        super().__init__(model)
        self.scale = positive_number(self._name, "scale", scale)

    def similarity(self, first: Tensor, second: Tensor) -> Tensor:
        """Row-wise similarity of the pairs (cosine here)."""
        return pairwise_cosine(first, second)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss from pair (or n-tuple) embeddings and one float score per row."""
        first, second, scores = self._as_pairs(self._check(embeddings), labels)
        predicted = self.similarity(first, second) * self.scale
        # differences[i, j] = s_j - s_i, kept where pair i should rank above pair j.
        differences = predicted.unsqueeze(0) - predicted.unsqueeze(1)
        should_rank_above = scores.unsqueeze(1) > scores.unsqueeze(0)
        terms = differences.masked_fill(~should_rank_above, -torch.inf).flatten()
        return torch.logsumexp(torch.cat([terms.new_zeros(1), terms]), dim=0)

    def _as_pairs(self, embeddings: list[Tensor], labels: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """(first, second, score) of every pair; n-tuples expand to (anchor, positive) and (anchor, negative_k)."""
        rows = embeddings[0].shape[0]
        if len(embeddings) == 2:
            return embeddings[0], embeddings[1], float_labels(self._name, labels, rows).to(embeddings[0].device)
        anchor, *candidates = embeddings
        if labels is None:
            scores = torch.ones(rows, device=anchor.device)
        else:
            scores = float_labels(self._name, labels, rows).to(anchor.device)
        negatives = len(candidates) - 1
        return (
            anchor.repeat(len(candidates), 1),
            torch.cat(candidates, dim=0),
            torch.cat([scores, (1.0 - scores).repeat(negatives)]),
        )

    def get_config_dict(self) -> dict[str, Any]:
        """``scale``."""
        return {"scale": self.scale}
