"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss over big batches at small-batch memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._checks import integer_at_least
from trainers.losses._distances import Similarity, similarity_matrix
from trainers.losses._gradcache import CachedEmbeddingLoss
from trainers.losses.multiple_negatives_ranking import Direction, MultipleNegativesRankingLoss, PartitionMode


class CachedMultipleNegativesRankingLoss(CachedEmbeddingLoss, MultipleNegativesRankingLoss):
    """:class:`MultipleNegativesRankingLoss` with GradCache: the same loss and gradients, memory of a mini-batch.

    In-batch negatives tie every row of a batch to every other, so a batch cannot simply be split into
    accumulation steps. GradCache embeds the batch ``mini_batch_size`` rows at a time without a graph,
    computes the loss and its gradient with respect to the embeddings (in row chunks of the same size),
    then re-embeds each mini-batch with a graph during ``backward`` to push those gradients through the
    model. Activation memory stays that of one mini-batch whatever the batch size; the price is a second
    forward pass (about 20-40% slower per row than the plain loss).

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        mini_batch_size: rows embedded (and score rows computed) at a time; >= 1, default 32. Larger is
            faster and uses more memory; it does not change the loss.
        scale, similarity, directions, partition_mode: as in :class:`MultipleNegativesRankingLoss`.

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

        Use a large ``batch_size`` in the training config (e.g. 512 or more) with the no-duplicates
        sampler; ``mini_batch_size`` is what must fit in memory.

    Reference:
        Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup", 2021,
        https://arxiv.org/abs/2101.06983; the loss itself: Henderson et al., 2017,
        https://arxiv.org/abs/1705.00652.

    Relations:
        Equal to :class:`MultipleNegativesRankingLoss` on the same batch; use that one when the batch
        fits in memory (it is faster). :class:`CachedGISTEmbedLoss` adds a guide model that removes
        false negatives.

    Example:
        A batch of 1024 pairs at the memory of 32::

            loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=32)
            trainer = Trainer(model, loss=loss, train_data=pairs,
                              config=TrainingConfig(batch_size=1024, batch_sampler="no_duplicates"))
    """

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        mini_batch_size: int = 32,
        scale: float = 20.0,
        similarity: Similarity = "cosine",
        directions: Sequence[Direction] = ("query_to_doc",),
        partition_mode: PartitionMode = "joint",
    ) -> None:
        super().__init__(
            model, scale=scale, similarity=similarity, directions=directions, partition_mode=partition_mode
        )
        self.mini_batch_size = integer_at_least(self._name, "mini_batch_size", mini_batch_size, 1)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from ``[anchors, positives, negatives_1, ...]`` embeddings (row chunks, no backward)."""
        return self.loss_from_leaves(embeddings, labels, {}, False)

    def loss_from_leaves(
        self, embeddings: list[Tensor], labels: Tensor | None, side: Mapping[str, Any], backward: bool
    ) -> Tensor:
        """The mean over rows of each row's InfoNCE term, ``mini_batch_size`` rows at a time.

        With ``backward`` each chunk back-propagates into ``embeddings`` as soon as it is computed, so
        only one ``(mini_batch_size, candidates)`` score block is alive at a time.
        """
        anchors = self._check(embeddings)[0]
        rows = anchors.shape[0]
        total = anchors.new_zeros(())
        for begin in range(0, rows, self.mini_batch_size):
            end = min(begin + self.mini_batch_size, rows)
            chunk = self._row_losses(embeddings, begin, end).sum() / rows
            if backward:
                chunk.backward()
                chunk = chunk.detach()
            total = total + chunk
        return total

    def _row_losses(self, embeddings: list[Tensor], begin: int, end: int) -> Tensor:
        """``log partition - positive logit`` of rows ``begin:end`` (see MultipleNegativesRankingLoss)."""
        anchors, positives = embeddings[0], embeddings[1]
        documents = torch.cat(embeddings[1:], dim=0)  # built per chunk: each chunk's graph is freed by its backward
        rows, device, sim = anchors.shape[0], anchors.device, self.similarity
        local = torch.arange(end - begin, device=device)
        own = torch.zeros(end - begin, rows, dtype=torch.bool, device=device)
        own[local, local + begin] = True

        scores = {"query_to_doc": similarity_matrix(anchors[begin:end], documents, sim)}
        if "query_to_query" in self.directions:
            scores["query_to_query"] = similarity_matrix(anchors[begin:end], anchors, sim).masked_fill(own, -torch.inf)
        if "doc_to_query" in self.directions:
            scores["doc_to_query"] = similarity_matrix(positives[begin:end], anchors, sim)
        if "doc_to_doc" in self.directions:
            own_documents = own.repeat(1, len(embeddings) - 1)
            block = similarity_matrix(positives[begin:end], documents, sim)
            scores["doc_to_doc"] = block.masked_fill(own_documents, -torch.inf)
        logits = [scores[name] * self.scale for name in self.directions]
        positive_logit = scores["query_to_doc"][local, local + begin] * self.scale
        if self.partition_mode == "joint":
            log_partition = torch.logsumexp(torch.cat(logits, dim=1), dim=1)
        else:
            log_partition = torch.stack([torch.logsumexp(block, dim=1) for block in logits]).mean(dim=0)
        return log_partition - positive_logit

    def get_config_dict(self) -> dict[str, Any]:
        """``mini_batch_size``, ``scale``, ``similarity``, ``directions`` and ``partition_mode``."""
        return {
            "mini_batch_size": self.mini_batch_size,
            "scale": self.scale,
            "similarity": self.similarity,
            "directions": list(self.directions),
            "partition_mode": self.partition_mode,
        }
