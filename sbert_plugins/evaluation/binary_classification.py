"""BinaryClassificationEvaluator: is a pair similar (1) or not (0)? Thresholded similarity, best thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    Evaluator,
    SimilarityName,
    check_positive_int,
    check_same_length,
    check_similarity_names,
    check_texts,
    check_truncate_dim,
    encode_texts,
    pairwise_similarity,
    similarity_names_for,
)
from sbert_plugins.evaluation.metrics import (
    average_precision,
    best_accuracy_threshold,
    best_f1_threshold,
    matthews_corrcoef,
)

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

# Distances are reported as distances (lower = more similar), so their thresholds read naturally.
_DISTANCES = ("euclidean", "manhattan")


class BinaryClassificationEvaluator(Evaluator):
    """Classify each pair as similar when its similarity passes a threshold, and report the best
    accuracy and F1 over all thresholds, with those thresholds, plus average precision and the
    Matthews correlation at the F1 threshold.

    For ``euclidean`` and ``manhattan`` the score is the distance (a pair is similar when the
    distance is at most the threshold); for ``cosine`` and ``dot``, when the score is at least it.

    Args:
        sentences1, sentences2: the pairs (non-empty, same length).
        labels: 1 for similar pairs, 0 for the others (same length as the sentences).
        similarity_fn_names: the functions to report; default: the model's own.
        batch_size, truncate_dim, show_progress: passed to ``model.encode``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics per function ``fn``: ``<fn>_accuracy``, ``<fn>_accuracy_threshold``, ``<fn>_f1``,
    ``<fn>_f1_threshold``, ``<fn>_precision``, ``<fn>_recall`` (at the F1 threshold), ``<fn>_ap``,
    ``<fn>_mcc``; with several functions also ``max_<metric>`` for each. Primary: ``<fn>_ap``
    (``max_ap`` with several functions).

    Raises:
        ConfigError: empty or mismatched inputs, a label other than 0/1, an unknown similarity name.
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        labels: Sequence[int],
        *,
        similarity_fn_names: Sequence[SimilarityName] | None = None,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="binary_classification_evaluation")
        self.sentences1 = check_texts(sentences1, "sentences1")
        self.sentences2 = check_texts(sentences2, "sentences2")
        for index, label in enumerate(labels):
            if isinstance(label, (bool, np.bool_)) or label not in (0, 1):
                raise ConfigError(f"labels[{index}] is {label!r}; labels must be 0 or 1")
        self.labels = np.asarray(list(labels), dtype=np.int64)
        check_same_length(sentences1=self.sentences1, sentences2=self.sentences2, labels=self.labels)
        self.similarity_fn_names = check_similarity_names(similarity_fn_names)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.show_progress = show_progress
        names = self.similarity_fn_names or ["cosine"]
        self.primary_metric = "max_ap" if len(names) > 1 else f"{names[0]}_ap"

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        # Each distinct sentence is embedded once.
        unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        position = {text: i for i, text in enumerate(unique)}
        embeddings = encode_texts(
            model, unique, batch_size=self.batch_size, truncate_dim=self.truncate_dim, show_progress=self.show_progress
        )
        embeddings1 = embeddings[[position[t] for t in self.sentences1]]
        embeddings2 = embeddings[[position[t] for t in self.sentences2]]
        names = similarity_names_for(model, self.similarity_fn_names)
        per_fn = {
            fn: self.classification_metrics(pairwise_similarity(fn, embeddings1, embeddings2), fn) for fn in names
        }
        metrics = {f"{fn}_{key}": value for fn, values in per_fn.items() for key, value in values.items()}
        if len(names) > 1:
            for key in next(iter(per_fn.values())):
                metrics[f"max_{key}"] = max(values[key] for values in per_fn.values())
            self.primary_metric = "max_ap"
        else:
            self.primary_metric = f"{names[0]}_ap"
        return metrics

    def classification_metrics(self, similarities: np.ndarray, fn: str) -> dict[str, float]:
        """The metrics for one function from the pairs' similarities (distances are negated similarities)."""
        is_distance = fn in _DISTANCES
        scores = -similarities if is_distance else similarities
        accuracy, accuracy_threshold = best_accuracy_threshold(scores, self.labels, greater_is_better=not is_distance)
        f1, precision, recall, f1_threshold = best_f1_threshold(scores, self.labels, greater_is_better=not is_distance)
        predicted = scores <= f1_threshold if is_distance else scores >= f1_threshold
        return {
            "accuracy": accuracy,
            "accuracy_threshold": accuracy_threshold,
            "f1": f1,
            "f1_threshold": f1_threshold,
            "precision": precision,
            "recall": recall,
            "ap": average_precision(self.labels, similarities),
            "mcc": matthews_corrcoef(self.labels, predicted),
        }
