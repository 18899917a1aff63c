"""CachedGISTEmbedLoss: GISTEmbedLoss with GradCache, for batches larger than memory allows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._checks import integer_at_least
from trainers.losses._gradcache import CachedEmbeddingLoss
from trainers.losses.gist_embed import GISTEmbedLoss, MarginStrategy


class CachedGISTEmbedLoss(CachedEmbeddingLoss, GISTEmbedLoss):
    """:class:`GISTEmbedLoss` with GradCache: the same loss and gradients, the memory of one mini-batch.

    The model embeds ``mini_batch_size`` rows at a time without a graph (the guide too, always without
    gradients), the loss and its gradient with respect to the embeddings are computed in row chunks of the
    same size, and ``backward`` re-embeds each mini-batch with a graph to carry those gradients into the
    model (see :class:`CachedMultipleNegativesRankingLoss`).

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        guide: the guide model, or its name or folder (see :class:`GISTEmbedLoss`).
        mini_batch_size: rows embedded (and score rows computed) at a time; >= 1, default 32.
        temperature, margin_strategy, margin, contrast_anchors, contrast_positives: as in
            :class:`GISTEmbedLoss`.

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

    Reference:
        Solatorio, "GISTEmbed", 2024, https://arxiv.org/abs/2402.16829; Gao et al., "Scaling Deep
        Contrastive Learning Batch Size under Memory Limited Setup", 2021, https://arxiv.org/abs/2101.06983.

    Relations:
        Equal to :class:`GISTEmbedLoss` on the same batch (use that one when the batch fits: it is faster);
        :class:`CachedMultipleNegativesRankingLoss` is the same idea without a guide.

    Example:
        ::

            loss = losses.CachedGISTEmbedLoss(model, guide="sentence-transformers/all-MiniLM-L6-v2",
                                              mini_batch_size=32)
            trainer = Trainer(model, loss=loss, train_data=pairs, config=TrainingConfig(batch_size=1024))
    """

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        guide: SentenceEncoder | str | Path,
        mini_batch_size: int = 32,
        temperature: float = 0.01,
        margin_strategy: MarginStrategy = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
    ) -> None:
        super().__init__(
            model,
            guide=guide,
            temperature=temperature,
            margin_strategy=margin_strategy,
            margin=margin,
            contrast_anchors=contrast_anchors,
            contrast_positives=contrast_positives,
        )
        self.mini_batch_size = integer_at_least(self._name, "mini_batch_size", mini_batch_size, 1)
        self._guide_batch_size = self.mini_batch_size

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None, *, guide_embeddings: list[Tensor] | None = None
    ) -> Tensor:
        """The loss from the model's and the guide's embeddings of each column (row chunks, no backward)."""
        return self.loss_from_leaves(embeddings, labels, {"guide_embeddings": guide_embeddings}, False)

    def loss_from_leaves(
        self, embeddings: list[Tensor], labels: Tensor | None, side: Mapping[str, Any], backward: bool
    ) -> Tensor:
        """The mean over rows, ``mini_batch_size`` anchors at a time, each chunk back-propagated at once."""
        embeddings, guide = self._check_pair(embeddings, side.get("guide_embeddings"))
        rows = embeddings[0].shape[0]
        total = embeddings[0].new_zeros(())
        for begin in range(0, rows, self.mini_batch_size):
            end = min(begin + self.mini_batch_size, rows)
            chunk = self._row_losses(embeddings, guide, begin, end).sum() / rows
            if backward:
                chunk.backward()
                chunk = chunk.detach()
            total = total + chunk
        return total

    def get_config_dict(self) -> dict[str, Any]:
        """``mini_batch_size`` and the settings of GISTEmbedLoss."""
        return {"mini_batch_size": self.mini_batch_size, **super().get_config_dict()}
