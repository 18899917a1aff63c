"""MultipleNegativesSymmetricRankingLoss: in-batch negatives in both directions (anchor → positive and back)."""

from __future__ import annotations

from typing import Any

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._distances import Similarity
from trainers.losses.multiple_negatives_ranking import Direction, MultipleNegativesRankingLoss

SYMMETRIC_DIRECTIONS: tuple[Direction, ...] = ("query_to_doc", "doc_to_query")


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """The mean of two InfoNCE losses: each anchor finds its positive among the batch's documents, and each
    positive finds its anchor among the batch's anchors.

    It is :class:`MultipleNegativesRankingLoss` with ``directions=("query_to_doc", "doc_to_query")`` and
    ``partition_mode="per_direction"`` (one softmax per direction, the two losses averaged), under the
    name the reference and older training scripts use.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        scale: multiplies the similarities before each softmax (``1 / temperature``); > 0, default 20.
        similarity: ``"cosine"`` (default), ``"dot"`` (then use ``scale=1``), ``"euclidean"`` or ``"manhattan"``.
        gather_across_devices: in a distributed run, take the negatives from every rank's rows (see
            :class:`MultipleNegativesRankingLoss`); no effect in a single process.

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

        Hard negatives only enter the anchor → document direction; positive → anchor ranks against anchors.
        Batch with the no-duplicates sampler, so a repeated text is never its own false negative.

    Reference:
        Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply", 2017,
        https://arxiv.org/abs/1705.00652 (the symmetric, dual-encoder form of in-batch negatives).

    Relations:
        :class:`MultipleNegativesRankingLoss` ranks in one direction only (questions → answers);
        :class:`CachedMultipleNegativesSymmetricRankingLoss` is this loss for batches larger than memory.

    Example:
        ::

            loss = losses.MultipleNegativesSymmetricRankingLoss(model)
            value = loss([model.tokenize(questions), model.tokenize(answers)], None)
    """

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        scale: float = 20.0,
        similarity: Similarity = "cosine",
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity=similarity,
            directions=SYMMETRIC_DIRECTIONS,
            partition_mode="per_direction",
            gather_across_devices=gather_across_devices,
        )

    def get_config_dict(self) -> dict[str, Any]:
        """``scale``, ``similarity`` and ``gather_across_devices`` (the directions are fixed)."""
        return {"scale": self.scale, "similarity": self.similarity, "gather_across_devices": self.gather_across_devices}
