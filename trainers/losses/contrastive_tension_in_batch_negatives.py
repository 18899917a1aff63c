"""ContrastiveTensionLossInBatchNegatives: unsupervised; two model copies, every other sentence a negative."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._checks import check_embeddings, choice, positive_number
from trainers.losses._distances import similarity_matrix
from trainers.losses._twin import TwinEncoderLoss, sentence_embedding


class ContrastiveTensionLossInBatchNegatives(TwinEncoderLoss):
    """Symmetric cross-entropy that matches each sentence's twin embedding to its own model embedding.

    At construction the loss makes an independent copy of the model (the twin). Both embed the
    same batch of sentences; ``S = scale * sim(twin(x), model(x))`` is a ``(batch, batch)`` score
    matrix whose diagonal holds the positives. The loss is the mean of the row-wise and the
    column-wise cross-entropy with the diagonal as targets. ``scale`` starts at the given value and
    is learned (its log is a parameter of the loss). Both copies train; only the model is kept.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (the result; the twin is
            copied from it here).
        scale: initial multiplier of the similarities (> 0, default 20; learned during training).
        similarity: ``"cosine"`` (default) or ``"dot"`` (then start ``scale`` at 1).

    Inputs:
        ============  ======
        columns       label
        ============  ======
        (sentence)    none
        ============  ======

        Unlabelled sentences; a sentence repeated in a batch becomes a false negative.

    Reference:
        Carlsson et al., "Semantic Re-tuning with Contrastive Tension", ICLR 2021,
        https://openreview.net/forum?id=Ov_sMNau-PF.

    Relations:
        :class:`ContrastiveTensionLoss` is the original form with explicit identical / different
        pairs (a weaker signal). With (anchor, positive) pairs use
        :class:`MultipleNegativesRankingLoss`; for unsupervised domain adaptation also see
        :class:`DenoisingAutoEncoderLoss`.

    Example:
        ::

            loss = losses.ContrastiveTensionLossInBatchNegatives(model, scale=20.0)
            rows = [{"sentence": s} for s in sentences]
            trainer = Trainer(model, loss=loss, train_data=rows, config=TrainingConfig(batch_size=32))
    """

    min_columns = 1
    max_columns = 1
    columns = "(sentence)"

    def __init__(
        self, model: SentenceEncoder, *, scale: float = 20.0, similarity: Literal["cosine", "dot"] = "cosine"
    ) -> None:
        super().__init__(model)
        self.scale = positive_number(self._name, "scale", scale)
        self.similarity: Literal["cosine", "dot"] = choice(self._name, "similarity", similarity, ("cosine", "dot"))  # type: ignore[assignment]
        device = next(model.parameters()).device
        self.logit_scale = nn.Parameter(torch.full((), math.log(self.scale), device=device))

    def embed(self, features: list[dict[str, Any]]) -> list[Tensor]:
        """The twin's and the model's embeddings of the one column."""
        return [sentence_embedding(self.twin, features[0]), sentence_embedding(self.model, features[0])]

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from ``[twin embeddings, model embeddings]`` of the same sentences; ``labels`` are ignored."""
        first, second = check_embeddings(
            self._name, embeddings, minimum=2, maximum=2, columns="(twin embeddings, model embeddings)"
        )
        scores = similarity_matrix(first, second, self.similarity) * self.logit_scale.float().exp()
        own = torch.arange(scores.shape[0], device=scores.device)
        return (F.cross_entropy(scores, own) + F.cross_entropy(scores.T, own)) / 2

    def get_config_dict(self) -> dict[str, Any]:
        """``scale`` (the initial value) and ``similarity``."""
        return {"scale": self.scale, "similarity": self.similarity}
