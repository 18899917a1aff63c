"""Evaluators: score a :class:`~sbert_plugins.SentenceEncoder` on labelled data; no trainer needed.

Every evaluator follows one protocol::

    metrics = evaluator(model)                       # dict[str, float]
    metrics = evaluator(model, output_path, epoch, steps)   # also appends a row to output_path/evaluator.csv_file
    metrics[evaluator.primary_metric]                # the metric to select models by (greater is better)

Metric names carry the evaluator's ``name`` as a prefix when one is given (``"sts-dev_spearman_cosine"``).
The maths (correlations, thresholds, ranking metrics) lives in :mod:`sbert_plugins.evaluation.metrics`.
"""

from __future__ import annotations

from sbert_plugins.evaluation.base import Evaluator
from sbert_plugins.evaluation.binary_classification import BinaryClassificationEvaluator
from sbert_plugins.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sbert_plugins.evaluation.information_retrieval import InformationRetrievalEvaluator
from sbert_plugins.evaluation.label_accuracy import LabelAccuracyEvaluator
from sbert_plugins.evaluation.mse import MSEEvaluator
from sbert_plugins.evaluation.reranking import RerankingEvaluator
from sbert_plugins.evaluation.sequential import SequentialEvaluator
from sbert_plugins.evaluation.sparse_information_retrieval import SparseInformationRetrievalEvaluator
from sbert_plugins.evaluation.triplet import TripletEvaluator

__all__ = [
    "BinaryClassificationEvaluator",
    "EmbeddingSimilarityEvaluator",
    "Evaluator",
    "InformationRetrievalEvaluator",
    "LabelAccuracyEvaluator",
    "MSEEvaluator",
    "RerankingEvaluator",
    "SequentialEvaluator",
    "SparseInformationRetrievalEvaluator",
    "TripletEvaluator",
]
