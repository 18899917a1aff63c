"""MultipleNegativesRankingLoss: in-batch negatives (InfoNCE) for (anchor, positive[, negatives...]) rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError
from trainers import distributed
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, positive_number
from trainers.losses._distances import SIMILARITIES, Similarity, similarity_matrix

Direction = Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]
DIRECTIONS: tuple[str, ...] = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
PartitionMode = Literal["joint", "per_direction"]


class MultipleNegativesRankingLoss(EmbeddingLoss):
    """Cross-entropy that ranks each anchor's own positive above every other document in the batch.

    For row ``i``, the candidates are all positives and hard negatives of the batch; the loss is
    ``-log softmax(scale * sim(anchor_i, candidates))[positive_i]``, averaged over rows. Other rows'
    documents serve as negatives for free, so larger batches give a harder, better signal.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        scale: multiplies the similarities before the softmax (``1 / temperature``); > 0, default 20.
        similarity: ``"cosine"`` (default), ``"dot"`` (then use ``scale=1``), ``"euclidean"`` or
            ``"manhattan"`` (negative distances).
        directions: which score sets enter the softmax; ``"query_to_doc"`` (anchor against all
            documents) is required. ``"doc_to_query"`` adds each positive against all anchors (the
            symmetric loss); ``"query_to_query"`` anchors against other anchors; ``"doc_to_doc"``
            positives against documents of other rows.
        partition_mode: ``"joint"`` (default) puts the chosen directions in one softmax;
            ``"per_direction"`` takes one softmax per direction and averages the losses (only for
            ``query_to_doc`` and ``doc_to_query``, whose candidates contain the positive).
        gather_across_devices: in a distributed run (``torchrun``), score each rank's rows against the
            anchors and documents of every rank, so the negatives span the global batch; gradients flow
            back to the rank that embedded each row. The loss is scaled so that the gradient averaged by
            DistributedDataParallel equals the single-process gradient of the mean over the global batch.
            No effect in a single process.

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

        Columns after the second are hard negatives for their row (and in-batch negatives for all
        others). A text repeated within a batch becomes a false negative: batch with the
        no-duplicates sampler.

    Reference:
        Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply", 2017,
        https://arxiv.org/abs/1705.00652; van den Oord et al., "Representation Learning with
        Contrastive Predictive Coding" (InfoNCE), 2018, https://arxiv.org/abs/1807.03748.

    Relations:
        With labelled pairs (similar / not similar) use :class:`OnlineContrastiveLoss`; with teacher
        scores for (query, positive, negative) use :class:`MarginMSELoss`.

    Example:
        Symmetric InfoNCE (anchor to documents, and positive to anchors)::

            loss = losses.MultipleNegativesRankingLoss(
                model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
            )
            features = [model.tokenize(questions), model.tokenize(answers)]
            value = loss(features, None)
    """

    min_columns = 2
    max_columns = None
    columns = "(anchor, positive, negative_1, ..., negative_n)"

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        scale: float = 20.0,
        similarity: Similarity = "cosine",
        directions: Sequence[Direction] = ("query_to_doc",),
        partition_mode: PartitionMode = "joint",
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(model)
        self.scale = positive_number(self._name, "scale", scale)
        self.similarity: Similarity = choice(self._name, "similarity", similarity, SIMILARITIES)  # type: ignore[assignment]
        self.directions: tuple[Direction, ...] = _check_directions(self._name, directions)
        self.partition_mode: PartitionMode = choice(  # type: ignore[assignment]
            self._name, "partition_mode", partition_mode, ("joint", "per_direction")
        )
        if self.partition_mode == "per_direction" and {"query_to_query", "doc_to_doc"} & set(self.directions):
            raise ConfigError(
                f"{self._name}: partition_mode='per_direction' only works with 'query_to_doc' and 'doc_to_query' "
                "(the other directions' candidates do not contain the positive); use partition_mode='joint'"
            )
        if not isinstance(gather_across_devices, bool):
            raise ConfigError(
                f"{self._name}: gather_across_devices must be True or False, found {gather_across_devices!r}"
            )
        self.gather_across_devices = gather_across_devices

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from ``[anchors, positives, negatives_1, ...]`` embeddings; ``labels`` are ignored.

        With ``gather_across_devices`` in a distributed run, the candidates are every rank's rows and the
        result is this rank's share: the sum of its rows' terms times ``world_size / global rows``
        (averaged over ranks, the mean over the global batch).
        """
        anchors, positives, *_ = self._check(embeddings)
        sim = self.similarity
        rows, device = anchors.shape[0], anchors.device
        gather = self.gather_across_devices and distributed.world_size() > 1
        if gather:
            gathered = [distributed.gather_with_grad(e) for e in embeddings[1:]]
            columns, offset = [g for g, _ in gathered], gathered[0][1]
            needs_anchors = {"query_to_query", "doc_to_query"} & set(self.directions)
            all_anchors = distributed.gather_with_grad(anchors)[0] if needs_anchors else anchors
        else:
            columns, all_anchors, offset = list(embeddings[1:]), anchors, 0
        total = columns[0].shape[0]  # rows of the global batch (the local batch when not gathering)
        documents = torch.cat(columns, dim=0)  # positives first, then each negative column
        local = torch.arange(rows, device=device)
        own = local + offset  # where each local row sits among the global rows
        itself = torch.zeros(rows, total, dtype=torch.bool, device=device)
        itself[local, own] = True

        scores = {"query_to_doc": similarity_matrix(anchors, documents, sim)}
        if "query_to_query" in self.directions:
            scores["query_to_query"] = similarity_matrix(anchors, all_anchors, sim).masked_fill(itself, -torch.inf)
        if "doc_to_query" in self.directions:
            scores["doc_to_query"] = similarity_matrix(positives, all_anchors, sim)
        if "doc_to_doc" in self.directions:
            # Row i's own documents (never its negatives here) sit at columns own_i, own_i + total, ...
            own_documents = itself.repeat(1, len(columns))
            scores["doc_to_doc"] = similarity_matrix(positives, documents, sim).masked_fill(own_documents, -torch.inf)
        logits = [scores[name] * self.scale for name in self.directions]
        positive_logit = scores["query_to_doc"][local, own] * self.scale

        if self.partition_mode == "joint":
            log_partition = torch.logsumexp(torch.cat(logits, dim=1), dim=1)
        else:
            log_partition = torch.stack([torch.logsumexp(block, dim=1) for block in logits]).mean(dim=0)
        terms = log_partition - positive_logit
        if not gather:
            return terms.mean()
        return terms.sum() * (distributed.world_size() / total)

    def get_config_dict(self) -> dict[str, Any]:
        """``scale``, ``similarity``, ``directions`` and ``partition_mode``."""
        return {
            "scale": self.scale,
            "similarity": self.similarity,
            "directions": list(self.directions),
            "partition_mode": self.partition_mode,
            "gather_across_devices": self.gather_across_devices,
        }


def _check_directions(owner: str, directions: Any) -> tuple[Direction, ...]:
    if isinstance(directions, str) or not isinstance(directions, Sequence) or not directions:
        raise ConfigError(f"{owner}: directions must be a non-empty tuple drawn from {list(DIRECTIONS)}")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        raise ConfigError(f"{owner}: unknown directions {unknown}; valid: {list(DIRECTIONS)}")
    if len(set(directions)) != len(directions):
        raise ConfigError(f"{owner}: directions must not repeat, found {list(directions)}")
    if "query_to_doc" not in directions:
        raise ConfigError(f"{owner}: directions must include 'query_to_doc' (it holds the positive pair)")
    return tuple(directions)
