"""Losses for sparse models (:class:`~sbert_plugins.SparseEncoder`): SPLADE and CSR.

A sparse model is trained with a wrapper that keeps its vectors sparse around a task loss:

- SPLADE (MLM head + max pooling, or inference-free): :class:`SpladeLoss` (or :class:`CachedSpladeLoss` for
  big batches) = task loss + :class:`FlopsLoss` regularisers on queries and documents;
- CSR (dense encoder + sparse auto-encoder): :class:`CSRLoss` = task loss + :class:`CSRReconstructionLoss`.

Task losses (they score the dense ``(batch, vocab)`` embeddings the model outputs while training, and run
only inside a wrapper): (query, positive[, negatives]) → :class:`SparseMultipleNegativesRankingLoss`;
with teacher scores → :class:`SparseMarginMSELoss`, :class:`SparseDistillKLDivLoss`; (text, text) + score →
:class:`SparseCoSENTLoss`, :class:`SparseAnglELoss`, :class:`SparseCosineSimilarityLoss`; triplets →
:class:`SparseTripletLoss`. :class:`SparseMSELoss` (teacher vectors) also runs alone.
"""

from __future__ import annotations

from trainers.losses.sparse.cached_splade import CachedSpladeLoss
from trainers.losses.sparse.csr import CSRLoss
from trainers.losses.sparse.csr_reconstruction import CSRReconstructionLoss
from trainers.losses.sparse.flops import FlopsLoss
from trainers.losses.sparse.sparse_angle import SparseAnglELoss
from trainers.losses.sparse.sparse_cosent import SparseCoSENTLoss
from trainers.losses.sparse.sparse_cosine_similarity import SparseCosineSimilarityLoss
from trainers.losses.sparse.sparse_distill_kl_div import SparseDistillKLDivLoss
from trainers.losses.sparse.sparse_margin_mse import SparseMarginMSELoss
from trainers.losses.sparse.sparse_mse import SparseMSELoss
from trainers.losses.sparse.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
from trainers.losses.sparse.sparse_triplet import SparseTripletLoss
from trainers.losses.sparse.splade import SpladeLoss

__all__ = [
    "CSRLoss",
    "CSRReconstructionLoss",
    "CachedSpladeLoss",
    "FlopsLoss",
    "SparseAnglELoss",
    "SparseCoSENTLoss",
    "SparseCosineSimilarityLoss",
    "SparseDistillKLDivLoss",
    "SparseMSELoss",
    "SparseMarginMSELoss",
    "SparseMultipleNegativesRankingLoss",
    "SparseTripletLoss",
    "SpladeLoss",
]

# The losses a SpladeLoss / CSRLoss may wrap by name, and those that train a sparse model on their own.
SPARSE_TASK_LOSSES = tuple(name for name in __all__ if name.startswith("Sparse"))
SPARSE_TRAINING_LOSSES = ("SpladeLoss", "CachedSpladeLoss", "CSRLoss", "SparseMSELoss")
