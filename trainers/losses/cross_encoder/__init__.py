"""Losses for training a :class:`~sbert_plugins.cross_encoder.CrossEncoder` (a re-ranker), one per file.

Each is an ``nn.Module`` built from the model it trains, with ``takes_texts = True``: the trainer hands it
the raw text columns of a batch (``list[list[str]]``) and the labels, and the loss scores the (query,
document) pairs it needs. The maths sits in ``compute_loss_from_logits`` / ``compute_loss_from_scores``,
which take tensors. Import them from here: the bi-encoder package ``trainers.losses`` has its own
``MultipleNegativesRankingLoss``, ``MSELoss`` and ``MarginMSELoss``.

* pairs with a label: :class:`BinaryCrossEntropyLoss`, :class:`CrossEntropyLoss`, :class:`MSELoss`
* a query, a positive and negatives: :class:`MultipleNegativesRankingLoss`, :class:`MarginMSELoss`
* a query and a graded list of documents: :class:`LambdaLoss`, :class:`RankNetLoss`, :class:`ListNetLoss`,
  :class:`ListMLELoss`, :class:`PListMLELoss`
"""

from __future__ import annotations

from trainers.losses.cross_encoder.binary_cross_entropy import BinaryCrossEntropyLoss
from trainers.losses.cross_encoder.cross_entropy import CrossEntropyLoss
from trainers.losses.cross_encoder.lambda_loss import LambdaLoss
from trainers.losses.cross_encoder.list_mle import ListMLELoss
from trainers.losses.cross_encoder.list_net import ListNetLoss
from trainers.losses.cross_encoder.margin_mse import MarginMSELoss
from trainers.losses.cross_encoder.mse import MSELoss
from trainers.losses.cross_encoder.multiple_negatives_ranking import MultipleNegativesRankingLoss
from trainers.losses.cross_encoder.plist_mle import PListMLELoss
from trainers.losses.cross_encoder.rank_net import RankNetLoss

__all__ = [
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "LambdaLoss",
    "ListMLELoss",
    "ListNetLoss",
    "MSELoss",
    "MarginMSELoss",
    "MultipleNegativesRankingLoss",
    "PListMLELoss",
    "RankNetLoss",
]
