"""The loss suite: one class per file, each an ``nn.Module`` built from the model it trains.

A loss is called as ``loss(features, labels)``: ``features`` holds one ``model.tokenize(texts)`` dict
per text column, ``labels`` is a tensor or None; it returns a scalar tensor. Each class docstring
states the columns and label type it expects. ``compute_loss_from_embeddings(embeddings, labels)``
runs the same maths on ready embeddings.

Pick a loss by the shape of the data:

- (text, text) + float score: CosineSimilarityLoss, CoSENTLoss, AnglELoss
- (text, text) + class id: SoftmaxLoss (NLI)
- (text, text) + 1/0: ContrastiveLoss, OnlineContrastiveLoss
- (anchor, positive[, negatives...]), no label: MultipleNegativesRankingLoss (also CoSENTLoss/AnglELoss),
  MultipleNegativesSymmetricRankingLoss (also positive → anchor; Cached... for big batches),
  GISTEmbedLoss (a guide model drops false negatives), MegaBatchMarginLoss (two columns); batches larger
  than memory: CachedMultipleNegativesRankingLoss, CachedGISTEmbedLoss (GradCache: the same loss)
- truncatable embeddings: MatryoshkaLoss (width), AdaptiveLayerLoss (depth), Matryoshka2dLoss (both) wrap a loss
- a regulariser to add to a task loss: GlobalOrthogonalRegularizationLoss (any columns)
- (anchor, positive, negative), no label: TripletLoss
- (text) + class id, several per class in a batch: BatchHardTripletLoss, BatchHardSoftMarginTripletLoss,
  BatchSemiHardTripletLoss, BatchAllTripletLoss
- (text, ...) + teacher embeddings: MSELoss, EmbedDistillLoss (cosine / L2, optional projection);
  (query, positive, negatives...) + teacher scores: MarginMSELoss, DistillKLDivLoss
- unlabelled sentences: ContrastiveTensionLossInBatchNegatives (sentence), ContrastiveTensionLoss
  (sentence_A, sentence_B), DenoisingAutoEncoderLoss (damaged, original); the row builders are
  ``contrastive_tension.contrastive_tension_pairs`` and ``denoising_auto_encoder.denoising_pairs``

Every loss holds the model as a sub-module (``loss.parameters()`` includes the model's, and
SoftmaxLoss adds its classifier); ``min_columns`` / ``max_columns`` give the accepted column counts.

Sparse models (SparseEncoder: SPLADE, CSR) train with the losses of :mod:`trainers.losses.sparse`, exported here
too: SpladeLoss (with FlopsLoss regularisers), CachedSpladeLoss, CSRLoss (with CSRReconstructionLoss) around a
task loss such as SparseMultipleNegativesRankingLoss; see that package for the list.

Cross-encoder losses live in :mod:`trainers.losses.cross_encoder`; those whose names do not clash with a
loss above (BinaryCrossEntropyLoss, CrossEntropyLoss, LambdaLoss, ListMLELoss, ListNetLoss, PListMLELoss,
RankNetLoss) are also importable from here. MSELoss, MarginMSELoss and MultipleNegativesRankingLoss here
are the bi-encoder ones: use ``losses.cross_encoder.MSELoss`` etc. for a CrossEncoder.
"""

from __future__ import annotations

from trainers.losses.adaptive_layer import AdaptiveLayerLoss
from trainers.losses.angle import AnglELoss
from trainers.losses.batch_all_triplet import BatchAllTripletLoss
from trainers.losses.batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from trainers.losses.batch_hard_triplet import BatchHardTripletLoss
from trainers.losses.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from trainers.losses.cached_gist_embed import CachedGISTEmbedLoss
from trainers.losses.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from trainers.losses.cached_multiple_negatives_symmetric_ranking import CachedMultipleNegativesSymmetricRankingLoss
from trainers.losses.contrastive import ContrastiveLoss
from trainers.losses.contrastive_tension import ContrastiveTensionLoss
from trainers.losses.contrastive_tension_in_batch_negatives import ContrastiveTensionLossInBatchNegatives
from trainers.losses.cosent import CoSENTLoss
from trainers.losses.cosine_similarity import CosineSimilarityLoss
from trainers.losses.cross_encoder import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    LambdaLoss,
    ListMLELoss,
    ListNetLoss,
    PListMLELoss,
    RankNetLoss,
)
from trainers.losses.denoising_auto_encoder import DenoisingAutoEncoderLoss
from trainers.losses.distill_kl_div import DistillKLDivLoss
from trainers.losses.embed_distill import EmbedDistillLoss
from trainers.losses.gist_embed import GISTEmbedLoss
from trainers.losses.global_orthogonal_regularization import GlobalOrthogonalRegularizationLoss
from trainers.losses.margin_mse import MarginMSELoss
from trainers.losses.matryoshka import MatryoshkaLoss
from trainers.losses.matryoshka_2d import Matryoshka2dLoss
from trainers.losses.mega_batch_margin import MegaBatchMarginLoss
from trainers.losses.mse import MSELoss
from trainers.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from trainers.losses.multiple_negatives_symmetric_ranking import MultipleNegativesSymmetricRankingLoss
from trainers.losses.online_contrastive import OnlineContrastiveLoss
from trainers.losses.softmax import SoftmaxLoss
from trainers.losses.sparse import (
    SPARSE_TASK_LOSSES as SPARSE_TASK_LOSSES,
)
from trainers.losses.sparse import (
    SPARSE_TRAINING_LOSSES as SPARSE_TRAINING_LOSSES,
)
from trainers.losses.sparse import (
    CachedSpladeLoss,
    CSRLoss,
    CSRReconstructionLoss,
    FlopsLoss,
    SparseAnglELoss,
    SparseCoSENTLoss,
    SparseCosineSimilarityLoss,
    SparseDistillKLDivLoss,
    SparseMarginMSELoss,
    SparseMSELoss,
    SparseMultipleNegativesRankingLoss,
    SparseTripletLoss,
    SpladeLoss,
)
from trainers.losses.triplet import TripletLoss

__all__ = [
    "AdaptiveLayerLoss",
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardSoftMarginTripletLoss",
    "BatchHardTripletLoss",
    "BatchSemiHardTripletLoss",
    "BinaryCrossEntropyLoss",
    "CSRLoss",
    "CSRReconstructionLoss",
    "CachedGISTEmbedLoss",
    "CachedMultipleNegativesRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "CachedSpladeLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "ContrastiveTensionLoss",
    "ContrastiveTensionLossInBatchNegatives",
    "CosineSimilarityLoss",
    "CrossEntropyLoss",
    "DenoisingAutoEncoderLoss",
    "DistillKLDivLoss",
    "EmbedDistillLoss",
    "FlopsLoss",
    "GISTEmbedLoss",
    "GlobalOrthogonalRegularizationLoss",
    "LambdaLoss",
    "ListMLELoss",
    "ListNetLoss",
    "MSELoss",
    "MarginMSELoss",
    "Matryoshka2dLoss",
    "MatryoshkaLoss",
    "MegaBatchMarginLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "PListMLELoss",
    "RankNetLoss",
    "SoftmaxLoss",
    "SparseAnglELoss",
    "SparseCoSENTLoss",
    "SparseCosineSimilarityLoss",
    "SparseDistillKLDivLoss",
    "SparseMSELoss",
    "SparseMarginMSELoss",
    "SparseMultipleNegativesRankingLoss",
    "SparseTripletLoss",
    "SpladeLoss",
    "TripletLoss",
]

# The sentence-embedding losses, for a SentenceEncoder; the others above take a CrossEncoder (and texts) or a
# SparseEncoder (SPARSE_LOSSES; SPARSE_TASK_LOSSES are those SpladeLoss and CSRLoss wrap by name,
# SPARSE_TRAINING_LOSSES those that train a model on their own).
SPARSE_LOSSES = tuple(name for name in __all__ if getattr(globals()[name], "sparse", False))
EMBEDDING_LOSSES = tuple(
    name for name in __all__ if not getattr(globals()[name], "takes_texts", False) and name not in SPARSE_LOSSES
)
