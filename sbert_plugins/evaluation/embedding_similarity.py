"""EmbeddingSimilarityEvaluator: how well embedding similarity tracks gold similarity scores (STS)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    Evaluator,
    SimilarityName,
    check_positive_int,
    check_same_length,
    check_scores,
    check_similarity_names,
    check_texts,
    check_truncate_dim,
    encode_texts,
    pairwise_similarity,
    similarity_names_for,
)
from sbert_plugins.evaluation.metrics import pearson, spearman

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder


class EmbeddingSimilarityEvaluator(Evaluator):
    """Pearson and Spearman correlation between the similarity of the two embeddings of each pair and
    its gold score, for each similarity function (cosine, dot, euclidean, manhattan).

    Args:
        sentences1, sentences2: the two sides of each pair (non-empty, same length).
        scores: the gold similarity of each pair (finite numbers; any scale: correlations ignore it).
        similarity_fn_names: the similarity functions to report; default: the model's own.
        main_similarity: the function whose Spearman is the primary metric; default: the only one
            reported, or ``spearman_max`` (best over the functions) when there are several.
        batch_size, truncate_dim, show_progress: passed to ``model.encode``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics: ``pearson_<fn>``, ``spearman_<fn>`` per function, plus ``pearson_max`` and ``spearman_max``
    when several functions are reported. Primary: ``spearman_<fn>`` (see ``main_similarity``).

    Raises:
        ConfigError: empty or mismatched inputs, a non-finite score, an unknown similarity name.

    Example:
        >>> evaluator = EmbeddingSimilarityEvaluator(s1, s2, scores, name="sts-dev")  # doctest: +SKIP
        >>> evaluator(model)["sts-dev_spearman_cosine"]  # doctest: +SKIP
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        scores: Sequence[float],
        *,
        similarity_fn_names: Sequence[SimilarityName] | None = None,
        main_similarity: SimilarityName | None = None,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="similarity_evaluation")
        self.sentences1 = check_texts(sentences1, "sentences1")
        self.sentences2 = check_texts(sentences2, "sentences2")
        self.scores = check_scores(scores, "scores")
        check_same_length(sentences1=self.sentences1, sentences2=self.sentences2, scores=self.scores)
        if len(self.scores) < 2:
            raise ConfigError("scores: a correlation needs at least two pairs")
        self.similarity_fn_names = check_similarity_names(similarity_fn_names, main_similarity=main_similarity)
        self.main_similarity = main_similarity
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.show_progress = show_progress
        self.primary_metric = self._primary_for(self.similarity_fn_names or ["cosine"])

    def _primary_for(self, names: list[str]) -> str:
        if self.main_similarity is not None:
            return f"spearman_{self.main_similarity}"
        return "spearman_max" if len(names) > 1 else f"spearman_{names[0]}"

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "truncate_dim": self.truncate_dim,
            "show_progress": self.show_progress,
        }
        embeddings1 = encode_texts(model, self.sentences1, **options)
        embeddings2 = encode_texts(model, self.sentences2, **options)
        names = similarity_names_for(model, self.similarity_fn_names)
        self.primary_metric = self._primary_for(names)
        metrics: dict[str, float] = {}
        for fn_name in names:
            predicted = pairwise_similarity(fn_name, embeddings1, embeddings2)
            metrics[f"pearson_{fn_name}"] = pearson(self.scores, predicted)
            metrics[f"spearman_{fn_name}"] = spearman(self.scores, predicted)
        if len(names) > 1:
            metrics["pearson_max"] = max(metrics[f"pearson_{fn}"] for fn in names)
            metrics["spearman_max"] = max(metrics[f"spearman_{fn}"] for fn in names)
        return metrics
