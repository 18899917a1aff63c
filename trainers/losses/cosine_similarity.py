"""CosineSimilarityLoss: regress the cosine similarity of a pair onto a gold score."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import float_labels
from trainers.losses._distances import pairwise_cosine


class CosineSimilarityLoss(EmbeddingLoss):
    """Mean squared error between ``cos(u, v)`` and the pair's gold similarity score.

    ``u`` and ``v`` are the embeddings of the two texts of a pair; the loss is
    ``mean((cos(u, v) - label)^2)`` over the batch (the regression objective of Sentence-BERT).

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.

    Inputs:
        ========================  ==========================================================
        columns                   label
        ========================  ==========================================================
        (sentence_A, sentence_B)  float similarity score in [-1, 1] (usually [0, 1])
        ========================  ==========================================================

        Scores on another scale (STS benchmarks use 0-5) must be rescaled first: a label outside
        [-1, 1] raises :class:`~sbert_plugins.errors.DataError`, since a cosine can never reach it.

    Reference:
        Reimers & Gurevych, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
        EMNLP 2019, https://arxiv.org/abs/1908.10084 (section 3, regression objective).

    Relations:
        :class:`CoSENTLoss` and :class:`AnglELoss` take the same data and only care about the order
        of the scores, which usually trains better; use them unless absolute scores matter.

    Example:
        ::

            import torch
            from sbert_plugins import SentenceEncoder
            from trainers import losses

            model = SentenceEncoder()
            loss = losses.CosineSimilarityLoss(model)
            features = [model.tokenize(["A man plays guitar."]), model.tokenize(["Someone plays music."])]
            value = loss(features, torch.tensor([0.8]))  # a scalar; value.backward() trains the model
    """

    def __init__(self, model: SentenceEncoder) -> None:
        super().__init__(model)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """MSE between the pairs' cosine similarities and ``labels`` (one float per row)."""
        first, second = self._check(embeddings)
        scores = float_labels(
            self._name,
            labels,
            first.shape[0],
            low=-1.0,
            high=1.0,
            hint="a cosine cannot reach it: rescale scores given on another scale (STS 0-5: divide by 5)",
        ).to(first.device)
        return F.mse_loss(pairwise_cosine(first, second), scores)

    def get_config_dict(self) -> dict[str, Any]:
        """No hyper-parameters: the loss is always the MSE of cosine similarities."""
        return {}
