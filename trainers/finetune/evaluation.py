"""Dev-split evaluation: the bi-encoder over the whole corpus (InformationRetrievalEvaluator), and the
bi-encoder followed by a cross-encoder re-ranker.

The corpus is embedded once per model: the evaluator's corpus embeddings are kept and reused to rank
the training queries (for mining) and the dev queries (for re-ranking).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor

from sbert_plugins.cross_encoder.fusion import fused_order, reranker_scores, tune_fusion_weight
from sbert_plugins.evaluation import InformationRetrievalEvaluator
from sbert_plugins.evaluation.metrics import RetrievalCutoffs, retrieval_metrics

CUTOFFS = RetrievalCutoffs(accuracy=(1, 10), precision_recall=(1, 10, 100), mrr=(10,), ndcg=(10,), map=(100,))
HEADLINE = ("ndcg@10", "mrr@10", "recall@100")
PRIMARY = "ndcg@10"
RANK_DEPTH = 100  # documents kept per ranked query (dev, validation): Recall@100 needs them all

logger = logging.getLogger(__name__)


class _KeepCorpusEmbeddings:
    """Hands every call to the model, and keeps what ``encode_documents`` returned (the corpus chunks)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.chunks: list[Tensor] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode_documents(self, texts: list[str], **options: Any) -> Any:
        embeddings = self._model.encode_documents(texts, **options)
        self.chunks.append(torch.as_tensor(embeddings))
        return embeddings


@dataclass
class RetrievalRun:
    """One model's dev evaluation: metrics (without the similarity prefix) and the corpus embeddings."""

    metrics: dict[str, float]
    corpus_embeddings: Tensor


def evaluate_bi_encoder(
    model: Any,
    corpus: Mapping[str, str],
    queries: Mapping[str, str],
    relevant: Mapping[str, Sequence[str]],
    *,
    batch_size: int,
    show_progress: bool,
) -> RetrievalRun:
    """nDCG@10, MRR@10, Recall@100 (and more) of ``model`` retrieving from the whole ``corpus`` for ``queries``.

    Returns:
        a :class:`RetrievalRun`; metric keys are ``ndcg@10``, ``mrr@10``, ``recall@100``, ``map@100``, ...
    """
    evaluator = InformationRetrievalEvaluator(
        dict(queries),
        dict(corpus),
        {q: set(relevant[q]) for q in queries},
        accuracy_at_k=CUTOFFS.accuracy,
        precision_recall_at_k=CUTOFFS.precision_recall,
        mrr_at_k=CUTOFFS.mrr,
        ndcg_at_k=CUTOFFS.ndcg,
        map_at_k=CUTOFFS.map,
        similarity_fn_names=[model.similarity_fn_name],
        batch_size=batch_size,
        show_progress=show_progress,
        write_csv=False,
    )
    recorder = _KeepCorpusEmbeddings(model)
    prefix = f"{model.similarity_fn_name}_"
    metrics = {key.removeprefix(prefix): value for key, value in evaluator(recorder).items()}  # type: ignore[arg-type]
    return RetrievalRun(metrics, torch.cat(recorder.chunks))


def query_scores(model: Any, texts: Sequence[str], corpus_embeddings: Tensor, *, batch_size: int) -> Tensor:
    """``(queries, documents)`` similarities of ``texts`` (query prompt) to the embedded corpus."""
    embedded = model.encode_queries(list(texts), batch_size=batch_size, convert_to="torch", show_progress=False)
    scores: Tensor = model.similarity(embedded, corpus_embeddings.to(embedded.device))
    return scores.float().cpu()


class Ranking(TypedDict):
    """One query's best documents, best first, with the scores that ranked them."""

    ids: list[str]
    scores: list[float]


def top_ranked(scores: Tensor, corpus_ids: Sequence[str], depth: int) -> list[Ranking]:
    """For each row of ``scores``, the ``depth`` best documents and their scores, best first."""
    top = torch.topk(scores, k=min(depth, scores.shape[1]), dim=1)
    return [
        {"ids": [corpus_ids[i] for i in row], "scores": values}
        for row, values in zip(top.indices.tolist(), top.values.tolist(), strict=True)
    ]


@dataclass
class RerankedHeads:
    """Each query's first ``top_k`` candidates, with the bi-encoder's and the re-ranker's scores of them,
    the rest of its ranking, and its relevant documents."""

    heads: list[list[str]]
    first_stage: list[list[float]]
    reranker: list[np.ndarray]
    tails: list[list[str]]
    relevant: list[set[str]]


def score_heads(
    reranker: Any,
    query_texts: Sequence[str],
    rankings: Sequence[Ranking],
    relevant: Sequence[Sequence[str]],
    corpus: Mapping[str, str],
    *,
    top_k: int,
    batch_size: int,
    show_progress: bool,
) -> RerankedHeads:
    """Score every (query, document) among each ranking's first ``top_k`` with the re-ranker, once: its
    logits, the re-ranker input of the fusion rule (:mod:`sbert_plugins.cross_encoder.fusion`); the rankings'
    scores are the bi-encoder's similarities, its first-stage input."""
    heads = [ranking["ids"][:top_k] for ranking in rankings]
    pairs = [(q, corpus[d]) for q, head in zip(query_texts, heads, strict=True) for d in head]
    if show_progress:
        logger.info("re-ranker: scoring %d (query, document) pairs", len(pairs))
    scores = reranker_scores(reranker, pairs, batch_size=batch_size)
    return RerankedHeads(
        heads=heads,
        first_stage=[ranking["scores"][:top_k] for ranking in rankings],
        reranker=np.split(scores, np.cumsum([len(head) for head in heads])[:-1]),
        tails=[ranking["ids"][top_k:] for ranking in rankings],
        relevant=[set(r) for r in relevant],
    )


def choose_fusion_weight(scored: RerankedHeads) -> float:
    """The weight of the re-ranker's score in its mix with the bi-encoder's with the best mean nDCG@10 on
    these (validation) queries."""
    pairs = list(zip(scored.heads, scored.relevant, strict=True))
    fit = tune_fusion_weight(
        scored.first_stage,
        scored.reranker,
        [[1.0 if d in wanted else 0.0 for d in head] for head, wanted in pairs],
        missed=[len(wanted - set(head)) for head, wanted in pairs],
    )
    logger.info(
        "fusion weight %.2f on %d validation queries: nDCG@10 %.4f (bi-encoder %.4f, re-ranker alone %.4f)",
        fit.weight,
        len(pairs),
        fit.ndcg,
        fit.ndcg_by_weight[0.0],
        fit.ndcg_by_weight[1.0],
    )
    return fit.weight


def rerank_metrics(scored: RerankedHeads, weight: float) -> dict[str, float]:
    """Metrics of the two-stage pipeline: each query's head re-ordered by the fusion rule at ``weight``
    (:func:`fused_heads`; 1.0 is the re-ranker alone), the rest kept in bi-encoder order (so Recall@100 is
    the bi-encoder's)."""
    reordered = [head + tail for head, tail in zip(fused_heads(scored, weight), scored.tails, strict=True)]
    return retrieval_metrics(reordered, scored.relevant, CUTOFFS)


def fused_heads(scored: RerankedHeads, weight: float) -> list[list[str]]:
    """Each query's head, ordered by :func:`sbert_plugins.cross_encoder.fused_order` at ``weight``."""
    return [
        [head[i] for i in fused_order(first, second, weight)]
        for head, first, second in zip(scored.heads, scored.first_stage, scored.reranker, strict=True)
    ]
