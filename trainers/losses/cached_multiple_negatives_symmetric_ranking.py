"""CachedMultipleNegativesSymmetricRankingLoss: the symmetric in-batch loss over big batches (GradCache)."""

from __future__ import annotations

from typing import Any

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._distances import Similarity
from trainers.losses.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from trainers.losses.multiple_negatives_symmetric_ranking import SYMMETRIC_DIRECTIONS


class CachedMultipleNegativesSymmetricRankingLoss(CachedMultipleNegativesRankingLoss):
    """:class:`MultipleNegativesSymmetricRankingLoss` with GradCache: the same loss and gradients, the
    activation memory of ``mini_batch_size`` rows.

    It is :class:`CachedMultipleNegativesRankingLoss` with ``directions=("query_to_doc", "doc_to_query")``
    and ``partition_mode="per_direction"``: the batch is embedded a mini-batch at a time without a graph,
    the loss's gradient with respect to the embeddings is computed, and each mini-batch is embedded again
    with a graph to carry that gradient into the model.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        mini_batch_size: rows embedded (and score rows computed) at a time; >= 1, default 32. It changes
            speed and memory, not the loss.
        scale: multiplies the similarities before each softmax (``1 / temperature``); > 0, default 20.
        similarity: ``"cosine"`` (default), ``"dot"`` (then use ``scale=1``), ``"euclidean"`` or ``"manhattan"``.

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

        Use a large ``batch_size`` with the no-duplicates sampler; ``mini_batch_size`` is what must fit.

    Reference:
        Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup", 2021,
        https://arxiv.org/abs/2101.06983; the loss: Henderson et al., 2017, https://arxiv.org/abs/1705.00652.

    Relations:
        Equal to :class:`MultipleNegativesSymmetricRankingLoss` on the same batch, which is faster when the
        batch fits in memory; :class:`CachedMultipleNegativesRankingLoss` ranks in one direction only.

    Example:
        ::

            loss = losses.CachedMultipleNegativesSymmetricRankingLoss(model, mini_batch_size=32)
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
    ) -> None:
        super().__init__(
            model,
            mini_batch_size=mini_batch_size,
            scale=scale,
            similarity=similarity,
            directions=SYMMETRIC_DIRECTIONS,
            partition_mode="per_direction",
        )

    def get_config_dict(self) -> dict[str, Any]:
        """``mini_batch_size``, ``scale`` and ``similarity`` (the directions are fixed)."""
        return {"mini_batch_size": self.mini_batch_size, "scale": self.scale, "similarity": self.similarity}
