"""TripletEvaluator: how often the anchor is closer to its positive than to its negative."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    SIMILARITY_NAMES,
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

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder


class TripletEvaluator(Evaluator):
    """Accuracy on (anchor, positive, negative) triplets: the share with
    ``sim(anchor, positive) > sim(anchor, negative) + margin``.

    Anchors are embedded with the model's query prompt, positives and negatives with its document
    prompt (no prompt when the model has none). Distances count as negated similarities.

    Args:
        anchors, positives, negatives: the triplets (non-empty, same length).
        similarity_fn_names: the similarity functions to report; default: the model's own.
        main_similarity: the function whose accuracy is primary; default: the only one, or
            ``max_accuracy`` when there are several.
        margin: required gap, one number for all functions or a dict per function (default 0).
        batch_size, truncate_dim, show_progress: passed to ``model.encode``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics: ``<fn>_accuracy`` per function, plus ``max_accuracy`` when there are several.

    Raises:
        ConfigError: empty or mismatched inputs, an unknown similarity name, a non-finite margin.
    """

    def __init__(
        self,
        anchors: Sequence[str],
        positives: Sequence[str],
        negatives: Sequence[str],
        *,
        similarity_fn_names: Sequence[SimilarityName] | None = None,
        main_similarity: SimilarityName | None = None,
        margin: float | Mapping[str, float] = 0.0,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="triplet_evaluation")
        self.anchors = check_texts(anchors, "anchors")
        self.positives = check_texts(positives, "positives")
        self.negatives = check_texts(negatives, "negatives")
        check_same_length(anchors=self.anchors, positives=self.positives, negatives=self.negatives)
        self.similarity_fn_names = check_similarity_names(similarity_fn_names, main_similarity=main_similarity)
        self.main_similarity = main_similarity
        self.margin = _margins(margin)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.show_progress = show_progress
        self.primary_metric = self._primary_for(self.similarity_fn_names or ["cosine"])

    def _primary_for(self, names: list[str]) -> str:
        if self.main_similarity is not None:
            return f"{self.main_similarity}_accuracy"
        return "max_accuracy" if len(names) > 1 else f"{names[0]}_accuracy"

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "truncate_dim": self.truncate_dim,
            "show_progress": self.show_progress,
        }
        anchors = encode_texts(model, self.anchors, side="query", **options)
        positives = encode_texts(model, self.positives, side="document", **options)
        negatives = encode_texts(model, self.negatives, side="document", **options)
        names = similarity_names_for(model, self.similarity_fn_names)
        self.primary_metric = self._primary_for(names)
        metrics: dict[str, float] = {}
        for fn in names:
            positive_scores = pairwise_similarity(fn, anchors, positives)
            negative_scores = pairwise_similarity(fn, anchors, negatives)
            metrics[f"{fn}_accuracy"] = float((positive_scores > negative_scores + self.margin[fn]).mean())
        if len(names) > 1:
            metrics["max_accuracy"] = max(metrics.values())
        return metrics


def _margins(margin: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(margin, Mapping):
        unknown = sorted(set(margin) - set(SIMILARITY_NAMES))
        if unknown:
            raise ConfigError(f"margin has unknown keys {unknown}; use some of {SIMILARITY_NAMES}")
        values = {fn: margin.get(fn, 0.0) for fn in SIMILARITY_NAMES}
    else:
        values = dict.fromkeys(SIMILARITY_NAMES, margin)
    for fn, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"margin for {fn!r} must be a finite number, found {value!r}")
    return {fn: float(value) for fn, value in values.items()}
