"""The stack choice inside a finetune run: every first stage's rankings of the validation and dev queries, the
fusion rule's two scores for the re-ranked stacks, and the record of the chosen stack (``stack.json``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sbert_plugins.bm25 import BM25Config, BM25Index
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.rank_fusion import RRF_K
from sbert_plugins.stack_record import StackRecord
from trainers.finetune.config import FinetuneConfig
from trainers.finetune.evaluation import PRIMARY, RANK_DEPTH
from trainers.finetune.pairs import RetrievalData
from trainers.finetune.sparse import SPARSE_DIR
from trainers.finetune.stacks import bm25_rankings, compare_stacks, first_stages

logger = logging.getLogger(__name__)


def compare_run_stacks(
    data: RetrievalData,
    config: FinetuneConfig,
    validation_ids: list[str],
    dev_ids: list[str],
    chosen: dict[str, Any],
    reranked: dict[str, Any] | None,
    *,
    load_kept: Callable[[], Any],
    sparse: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Rank the validation and dev queries with every first stage and compare the stacks
    (:func:`trainers.finetune.stacks.compare_stacks`).

    Args:
        data, config: the run's data and settings.
        validation_ids, dev_ids: the queries the choice is made on, and those reported.
        chosen: the kept bi-encoder's evaluation (its ``rankings`` of every validation and dev query).
        reranked: the re-ranker's evaluation (its ``logits`` of the dense candidates are reused), or ``None``.
        load_kept: loads the kept bi-encoder (for the fusion rule's first-stage scores of other candidates).
        sparse: the kept learned sparse model's rankings of the validation and dev queries (``None``: none).

    Returns:
        as :func:`~trainers.finetune.stacks.compare_stacks`.
    """
    ranked_ids = validation_ids + dev_ids
    corpus_ids = list(data.corpus)
    depth = max(RANK_DEPTH, config.rerank_top_k)
    dense = {q: chosen["rankings"][q]["ids"] for q in ranked_ids}
    index = BM25Index([data.corpus[d] for d in corpus_ids])
    bm25 = bm25_rankings(index, corpus_ids, {q: data.queries[q] for q in ranked_ids}, depth)
    stages = first_stages(dense, bm25, sparse, depth)
    if config.reranker_output is None or reranked is None:
        return compare_stacks(stages, data.relevant, validation_ids, dev_ids, top_k=config.rerank_top_k)
    from sbert_plugins.cross_encoder import CrossEncoder
    from sbert_plugins.cross_encoder.fusion import reranker_scores

    model = load_kept()
    reranker = CrossEncoder(str(config.reranker_output))
    known = {(q, d): score for q, per in reranked.get("logits", {}).items() for d, score in per.items()}

    def logits(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
        missing = [pair for pair in pairs if pair not in known]
        if missing:
            logger.info("re-ranker: scoring %d more (query, document) pairs for the stacks", len(missing))
            texts = [(data.queries[q], data.corpus[d]) for q, d in missing]
            scores = reranker_scores(reranker, texts, batch_size=config.eval_batch_size)
            known.update(zip(missing, map(float, scores), strict=True))
        return known

    def similarities(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
        return pair_similarities(model, data, pairs, batch_size=config.eval_batch_size)

    return compare_stacks(
        stages,
        data.relevant,
        validation_ids,
        dev_ids,
        top_k=config.rerank_top_k,
        dense_scores=similarities,
        reranker_scores=logits,
    )


def pair_similarities(
    model: Any, data: RetrievalData, pairs: Sequence[tuple[str, str]], *, batch_size: int
) -> dict[tuple[str, str], float]:
    """The model's similarity of each (query id, document id) pair: every query and document embedded once."""
    query_ids = sorted({q for q, _ in pairs})
    doc_ids = sorted({d for _, d in pairs})
    if not pairs:
        return {}
    queries = model.encode_queries(
        [data.queries[q] for q in query_ids], batch_size=batch_size, convert_to="torch", show_progress=False
    )
    documents = model.encode_documents(
        [data.corpus[d] for d in doc_ids], batch_size=batch_size, convert_to="torch", show_progress=False
    )
    similarity = model.similarity(queries, documents).float().cpu()
    row = {q: i for i, q in enumerate(query_ids)}
    column = {d: i for i, d in enumerate(doc_ids)}
    return {(q, d): float(similarity[row[q], column[d]]) for q, d in pairs}


def stack_record(config: FinetuneConfig, kept: Path, stacks: dict[str, Any]) -> StackRecord:
    """The record of the chosen stack, with the fingerprints of the models it names."""
    from sbert_plugins.cross_encoder import CrossEncoder

    chosen, first_stage = stacks["chosen"], stacks["first_stage"]
    reranker = reranker_fingerprint = None
    if chosen != first_stage and config.reranker_output is not None:
        reranker = os.path.relpath(Path(config.reranker_output).resolve(), kept.resolve())
        reranker_fingerprint = CrossEncoder(config.reranker_output).fingerprint
    sparse_model = sparse_fingerprint = None
    if "sparse" in first_stage.split("+"):
        from sbert_plugins.sparse import SparseEncoder

        sparse_model = SPARSE_DIR
        sparse_fingerprint = SparseEncoder(str(kept / SPARSE_DIR)).fingerprint
    return StackRecord(
        first_stage=first_stage,
        dense_fingerprint=SentenceEncoder(kept).fingerprint,
        sparse_model=sparse_model,
        sparse_fingerprint=sparse_fingerprint,
        reranker=reranker,
        reranker_fingerprint=reranker_fingerprint,
        fusion_weight=stacks["fusion_weight"] if reranker is not None else None,
        candidates=config.rerank_top_k,
        rrf_k=RRF_K,
        bm25=BM25Config().model_dump() if "bm25" in first_stage.split("+") else None,
        validation_ndcg={name: result["validation"][PRIMARY] for name, result in stacks["stacks"].items()},
    )
