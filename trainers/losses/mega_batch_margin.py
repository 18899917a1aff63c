"""MegaBatchMarginLoss: each anchor against its own positive and the hardest other positive of a big batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError
from trainers.losses._checks import flag, integer_at_least
from trainers.losses._distances import similarity_matrix
from trainers.losses._gradcache import CachedEmbeddingLoss


class MegaBatchMarginLoss(CachedEmbeddingLoss):
    """``relu(positive_margin - cos(a_i, p_i)) + relu(max_{j != i} cos(a_i, p_j) - negative_margin)``, averaged.

    The hardest negative of each anchor is mined from the other rows' positives, so the loss improves with
    the batch size ("mega-batches" of hundreds or thousands of rows). By default the batch is embedded with
    GradCache, ``mini_batch_size`` rows at a time, so a mega-batch costs the memory of a mini-batch.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        positive_margin: the cosine each positive pair should reach; default 0.8.
        negative_margin: the cosine the hardest negative should stay below; default 0.3 (must be smaller
            than ``positive_margin``).
        use_mini_batched_version: embed with GradCache in mini-batches (default True); False embeds the whole
            batch at once (faster when it fits in memory; the same loss).
        mini_batch_size: rows embedded (and score rows computed) at a time; >= 1, default 50.

    Inputs:
        ===================  =======================
        columns              label
        ===================  =======================
        (anchor, positive)   none (ignored if given)
        ===================  =======================

        Two columns only: the negatives come from the batch. Use a large batch and the no-duplicates sampler.

    Reference:
        Wieting and Gimpel, "ParaNMT-50M: Pushing the Limits of Paraphrastic Sentence Embeddings with
        Millions of Machine Translations", 2018, https://arxiv.org/abs/1711.05732.

    Relations:
        :class:`MultipleNegativesRankingLoss` / :class:`CachedMultipleNegativesRankingLoss` use every in-batch
        negative (a softmax) rather than the hardest one, and usually train better.

    Example:
        ::

            loss = losses.MegaBatchMarginLoss(model, mini_batch_size=50)
            trainer = Trainer(model, loss=loss, train_data=paraphrase_pairs, config=TrainingConfig(batch_size=500))
    """

    min_columns = 2
    max_columns = 2
    columns = "(anchor, positive)"

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        positive_margin: float = 0.8,
        negative_margin: float = 0.3,
        use_mini_batched_version: bool = True,
        mini_batch_size: int = 50,
    ) -> None:
        super().__init__(model)
        for name, value in (("positive_margin", positive_margin), ("negative_margin", negative_margin)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not -1.0 <= value <= 1.0:
                raise ConfigError(f"{self._name}: {name} must be a cosine in [-1, 1], found {value!r}")
        if negative_margin >= positive_margin:
            raise ConfigError(
                f"{self._name}: negative_margin ({negative_margin}) must be below positive_margin ({positive_margin})"
            )
        self.positive_margin = float(positive_margin)
        self.negative_margin = float(negative_margin)
        self.uses_gradcache = flag(self._name, "use_mini_batched_version", use_mini_batched_version)
        self.mini_batch_size = integer_at_least(self._name, "mini_batch_size", mini_batch_size, 1)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from ``[anchors, positives]`` embeddings; ``labels`` are ignored."""
        return self.loss_from_leaves(embeddings, labels, {}, False)

    def loss_from_leaves(
        self, embeddings: list[Tensor], labels: Tensor | None, side: Mapping[str, Any], backward: bool
    ) -> Tensor:
        """The mean over rows, ``mini_batch_size`` anchors at a time (each chunk back-propagated with ``backward``)."""
        anchors, positives = self._check(embeddings)
        rows = anchors.shape[0]
        total = anchors.new_zeros(())
        for begin in range(0, rows, self.mini_batch_size):
            end = min(begin + self.mini_batch_size, rows)
            local = torch.arange(end - begin, device=anchors.device)
            scores = similarity_matrix(anchors[begin:end], positives, "cosine")
            positive = scores[local, local + begin]
            own = torch.zeros_like(scores, dtype=torch.bool)
            own[local, local + begin] = True
            hardest = scores.masked_fill(own, -torch.inf).max(dim=1).values
            # A batch of one row has no negative: max over nothing is -inf and its hinge is 0.
            chunk = (F.relu(self.positive_margin - positive) + F.relu(hardest - self.negative_margin)).sum() / rows
            if backward:
                chunk.backward()
                chunk = chunk.detach()
            total = total + chunk
        return total

    def get_config_dict(self) -> dict[str, Any]:
        """The margins, ``use_mini_batched_version`` and ``mini_batch_size``."""
        return {
            "positive_margin": self.positive_margin,
            "negative_margin": self.negative_margin,
            "use_mini_batched_version": self.uses_gradcache,
            "mini_batch_size": self.mini_batch_size,
        }
