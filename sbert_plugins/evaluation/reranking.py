"""RerankingEvaluator: order each query's given candidates (positives + negatives) by bi-encoder similarity."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    Evaluator,
    SimilarityName,
    check_positive_int,
    check_similarity_names,
    check_texts,
    check_truncate_dim,
    encode_texts,
)
from sbert_plugins.evaluation.metrics import average_precision, ndcg_at_k, reciprocal_rank_at_k
from sbert_plugins.similarity import similarity_function

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

logger = logging.getLogger(__name__)


class RerankingEvaluator(Evaluator):
    """For each query, rank its candidate documents (its positives and negatives) by similarity to the
    query and report MAP, MRR@k and nDCG@k, averaged over queries.

    Queries are embedded with the model's query prompt, candidates with its document prompt.

    Args:
        samples: ``[{"query": str, "positive": [str, ...], "negative": [str, ...]}, ...]`` (a single string
            is accepted for ``positive`` / ``negative``). Samples with no positive or no negative are
            skipped (they cannot be ranked), with a warning.
        at_k: the cut-off of MRR and nDCG (positive).
        similarity_fn_name: the similarity to rank by; default: the model's own.
        batch_size, truncate_dim, show_progress: passed to ``model.encode``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics: ``map``, ``mrr@<k>``, ``ndcg@<k>`` (primary). Candidates with equal scores: nDCG averages
    over the tie, MRR takes them in the given order (positives first), AP counts them as one threshold.

    Raises:
        ConfigError: no samples, a sample without ``query``/``positive``/``negative``, a non-string
            text, no sample left with both a positive and a negative, ``at_k <= 0``.
    """

    def __init__(
        self,
        samples: Sequence[Mapping[str, Any]],
        *,
        at_k: int = 10,
        similarity_fn_name: SimilarityName | None = None,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="reranking_evaluation")
        self.at_k = check_positive_int(at_k, "at_k")
        self.samples = _check_samples(samples)
        if similarity_fn_name is not None:
            check_similarity_names([similarity_fn_name], "similarity_fn_name")
        self.similarity_fn_name = similarity_fn_name
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.show_progress = show_progress
        self.primary_metric = f"ndcg@{self.at_k}"

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "truncate_dim": self.truncate_dim,
            "show_progress": self.show_progress,
            "convert_to": "torch",
        }
        queries = encode_texts(model, [s["query"] for s in self.samples], side="query", **options)
        documents = [doc for s in self.samples for doc in (*s["positive"], *s["negative"])]
        doc_embeddings = encode_texts(model, documents, side="document", **options)
        score = similarity_function(self.similarity_fn_name or model.similarity_fn_name)
        aps, rrs, ndcgs = [], [], []
        start = 0
        for index, sample in enumerate(self.samples):
            n_pos, n_neg = len(sample["positive"]), len(sample["negative"])
            candidates = doc_embeddings[start : start + n_pos + n_neg]
            start += n_pos + n_neg
            scores = score(queries[index : index + 1], candidates)[0].cpu().numpy().astype(np.float64)
            relevance = np.r_[np.ones(n_pos), np.zeros(n_neg)]
            ranking = np.argsort(-scores, kind="stable")
            rrs.append(reciprocal_rank_at_k(list(relevance[ranking] > 0), self.at_k))
            ndcgs.append(ndcg_at_k(relevance, scores, self.at_k))
            aps.append(average_precision(relevance, scores))
        return {
            "map": float(np.mean(aps)),
            f"mrr@{self.at_k}": float(np.mean(rrs)),
            f"ndcg@{self.at_k}": float(np.mean(ndcgs)),
        }


def _check_samples(samples: Any) -> list[dict[str, Any]]:
    if isinstance(samples, Mapping):
        samples = list(samples.values())
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples:
        raise ConfigError("samples must be a non-empty list of {'query', 'positive', 'negative'} dicts")
    checked: list[dict[str, Any]] = []
    skipped = 0
    for index, sample in enumerate(samples):
        if not isinstance(sample, Mapping) or not {"query", "positive", "negative"} <= set(sample):
            raise ConfigError(f"samples[{index}] must be a dict with keys 'query', 'positive', 'negative'")
        query = sample["query"]
        if not isinstance(query, str):
            raise ConfigError(f"samples[{index}]['query'] is {type(query).__name__}, expected str")
        lists = {}
        for key in ("positive", "negative"):
            value = sample[key]
            lists[key] = (
                [value]
                if isinstance(value, str)
                else check_texts(value, f"samples[{index}][{key!r}]", allow_empty=True)
            )
        if not lists["positive"] or not lists["negative"]:
            skipped += 1
            continue
        checked.append({"query": query, **lists})
    if skipped:
        logger.warning("skipped %d of %d reranking samples without a positive or a negative", skipped, len(samples))
    if not checked:
        raise ConfigError("no reranking sample has both a positive and a negative candidate")
    return checked
