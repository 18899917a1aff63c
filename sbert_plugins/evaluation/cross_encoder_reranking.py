"""CrossEncoderRerankingEvaluator: re-rank each query's candidate documents with a cross-encoder and report
MAP, MRR@k and nDCG@k, and, for retrieved candidate lists, the same metrics of the retrieval order."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import Evaluator, check_positive_int, check_texts
from sbert_plugins.evaluation.metrics import average_precision, ndcg_at_k, reciprocal_rank_at_k

if TYPE_CHECKING:
    from sbert_plugins.cross_encoder import CrossEncoder

logger = logging.getLogger(__name__)


class CrossEncoderRerankingEvaluator(Evaluator):
    """For each query, score (query, candidate) pairs with a cross-encoder, order the candidates by score and
    report MAP, MRR@k and nDCG@k averaged over queries (the same metrics as the reference library's).

    Candidates come in one of two forms per sample:

    * ``{"query", "positive": [...], "negative": [...]}``: the candidates are the positives and negatives.
    * ``{"query", "positive": [...], "documents": [...]}``: ``documents`` is a first-stage ranking (say the
      bi-encoder's top 50), best first. The retrieval order is scored too (``base_*`` metrics), so the gain
      of re-ranking shows. With ``always_rerank_positives`` (default, as in the reference) missed positives
      are added to the candidates to re-rank, which measures the re-ranker alone; turn it off to measure
      the two-stage pipeline. Positives absent from a ranking count as never found: AP is scaled by the
      share of positives found, and the ideal ranking of nDCG holds every positive (as sentence-transformers
      6.3 computes them).

    Args:
        samples: a list of such dicts (a dict of them is read by its values); ``positive`` may be one string.
        at_k: the cut-off of MRR and nDCG (positive).
        always_rerank_positives: see above; only used by samples with ``documents``.
        batch_size, show_progress: passed to ``model.predict``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics: ``map``, ``mrr@<k>``, ``ndcg@<k>`` (primary); with ``documents`` also ``base_map``,
    ``base_mrr@<k>``, ``base_ndcg@<k>``. A sample without any positive among its candidates scores 0.
    Candidates with equal scores: nDCG and AP treat the tie as one block, MRR takes them in candidate order.

    Raises:
        ConfigError: no samples, a sample without ``query`` or ``positive``, with both or neither of
            ``negative`` and ``documents``, a non-string text, or ``at_k <= 0``.
    """

    def __init__(
        self,
        samples: Sequence[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]],
        *,
        at_k: int = 10,
        always_rerank_positives: bool = True,
        batch_size: int = 64,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="cross_encoder_reranking_evaluation")
        self.at_k = check_positive_int(at_k, "at_k")
        self.samples = _check_samples(samples)
        if not isinstance(always_rerank_positives, bool):
            raise ConfigError(f"always_rerank_positives must be True or False, found {always_rerank_positives!r}")
        self.always_rerank_positives = always_rerank_positives
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.show_progress = show_progress
        self.primary_metric = f"ndcg@{self.at_k}"

    def compute(self, model: CrossEncoder) -> dict[str, float]:  # type: ignore[override]
        candidates = [self._candidates(sample) for sample in self.samples]
        positives = [len(sample["positive"]) for sample in self.samples]
        pairs = [
            (s["query"], doc)
            for s, (docs, relevant) in zip(self.samples, candidates, strict=True)
            if any(relevant)
            for doc in docs
        ]
        scores = model.predict(pairs, batch_size=self.batch_size, show_progress=self.show_progress)
        reranked, base = [], []
        start = 0
        for sample, (docs, relevant), total in zip(self.samples, candidates, positives, strict=True):
            if any(relevant):
                reranked.append(self._metrics(relevant, scores[start : start + len(docs)], total))
                start += len(docs)
            else:
                reranked.append((0.0, 0.0, 0.0))
            if "documents" in sample:
                base.append(self._base_metrics(sample))
        k = self.at_k
        metrics = _means(reranked, k, prefix="")
        if base:
            metrics.update(_means(base, k, prefix="base_"))
        return metrics

    def _candidates(self, sample: dict[str, Any]) -> tuple[list[str], list[bool]]:
        positives = sample["positive"]
        if "negative" in sample:
            docs = positives + sample["negative"]
            return docs, [True] * len(positives) + [False] * len(sample["negative"])
        documents = sample["documents"]
        if self.always_rerank_positives:
            others = [doc for doc in documents if doc not in positives]
            return positives + others, [True] * len(positives) + [False] * len(others)
        return list(documents), [doc in positives for doc in documents]

    def _base_metrics(self, sample: dict[str, Any]) -> tuple[float, float, float]:
        """Metrics of the given retrieval order."""
        relevant = [doc in sample["positive"] for doc in sample["documents"]]
        if not any(relevant):
            return 0.0, 0.0, 0.0
        scores = np.arange(len(relevant), 0, -1, dtype=np.float64)
        return self._metrics(relevant, scores, len(sample["positive"]))

    def _metrics(self, relevant: list[bool], scores: np.ndarray, positives: int) -> tuple[float, float, float]:
        """(AP, RR@k, nDCG@k) of ordering the candidates by ``scores``, out of ``positives`` in all."""
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        labels = np.asarray(relevant, dtype=np.float64)
        missing = max(positives - sum(relevant), 0)
        reciprocal_rank = reciprocal_rank_at_k([relevant[i] for i in order], self.at_k)
        return (
            average_precision(labels, scores, missing=missing),
            reciprocal_rank,
            ndcg_at_k(labels, scores, self.at_k, missing=missing),
        )


def _means(per_sample: list[tuple[float, float, float]], k: int, *, prefix: str) -> dict[str, float]:
    values = np.asarray(per_sample, dtype=np.float64)
    return {
        f"{prefix}map": float(values[:, 0].mean()),
        f"{prefix}mrr@{k}": float(values[:, 1].mean()),
        f"{prefix}ndcg@{k}": float(values[:, 2].mean()),
    }


def _check_samples(samples: Any) -> list[dict[str, Any]]:
    if isinstance(samples, Mapping):
        samples = list(samples.values())
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples:
        raise ConfigError("samples must be a non-empty list of {'query', 'positive', 'negative' | 'documents'} dicts")
    checked: list[dict[str, Any]] = []
    for index, sample in enumerate(samples):
        where = f"samples[{index}]"
        if not isinstance(sample, Mapping) or not {"query", "positive"} <= set(sample):
            raise ConfigError(f"{where} must be a dict with keys 'query', 'positive' and 'negative' or 'documents'")
        if ("negative" in sample) == ("documents" in sample):
            raise ConfigError(
                f"{where} must have exactly one of 'negative' and 'documents', found keys {sorted(sample)}"
            )
        if not isinstance(sample["query"], str):
            raise ConfigError(f"{where}['query'] is {type(sample['query']).__name__}, expected str")
        entry: dict[str, Any] = {"query": sample["query"]}
        for key in ("positive", "negative", "documents"):
            if key in sample:
                value = sample[key]
                entry[key] = (
                    [value] if isinstance(value, str) else check_texts(value, f"{where}[{key!r}]", allow_empty=True)
                )
        checked.append(entry)
    return checked
