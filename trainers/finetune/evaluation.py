"""Dev-split evaluation: the bi-encoder over the whole corpus (InformationRetrievalEvaluator), and the
bi-encoder followed by a cross-encoder re-ranker.

The corpus is embedded once per model: the evaluator's corpus embeddings are kept and reused to rank
the training queries (for mining) and the dev queries (for re-ranking).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sbert_plugins.evaluation import InformationRetrievalEvaluator
from sbert_plugins.evaluation.metrics import RetrievalCutoffs, retrieval_metrics

CUTOFFS = RetrievalCutoffs(accuracy=(1, 10), precision_recall=(1, 10, 100), mrr=(10,), ndcg=(10,), map=(100,))
HEADLINE = ("ndcg@10", "mrr@10", "recall@100")
PRIMARY = "ndcg@10"


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


def top_ranked(scores: Tensor, corpus_ids: Sequence[str], depth: int) -> list[list[str]]:
    """For each row of ``scores``, the ids of the ``depth`` best documents, best first."""
    top = torch.topk(scores, k=min(depth, scores.shape[1]), dim=1).indices.tolist()
    return [[corpus_ids[i] for i in row] for row in top]


def rerank_metrics(
    reranker: Any,
    query_texts: Sequence[str],
    rankings: Sequence[Sequence[str]],
    relevant: Sequence[Sequence[str]],
    corpus: Mapping[str, str],
    *,
    top_k: int,
    batch_size: int,
    show_progress: bool,
) -> dict[str, float]:
    """Metrics of the two-stage pipeline: each bi-encoder ranking's first ``top_k`` documents re-ordered by
    the cross-encoder, the rest kept in bi-encoder order (so Recall@100 is the bi-encoder's)."""
    pairs = [(q, corpus[d]) for q, ranked in zip(query_texts, rankings, strict=True) for d in ranked[:top_k]]
    scores = reranker.predict(pairs, batch_size=batch_size, show_progress=show_progress)
    reordered: list[list[str]] = []
    start = 0
    for ranked in rankings:
        head = list(ranked[:top_k])
        own = np.asarray(scores[start : start + len(head)])
        start += len(head)
        reordered.append([head[i] for i in np.argsort(-own, kind="stable")] + list(ranked[top_k:]))
    return retrieval_metrics(reordered, [set(r) for r in relevant], CUTOFFS)
