"""The retrieval stacks ``finetune`` compares, and the choice among them.

First stages: the kept bi-encoder (``dense``), the project's BM25 vectors with the store's IDF (``bm25``,
:class:`sbert_plugins.bm25.BM25Index`), the learned sparse model (``sparse``, with ``--sparse-base``), and
dense fused with each sparse side by reciprocal rank fusion as Qdrant does it (``dense+bm25``,
``dense+sparse``, :func:`sbert_plugins.rank_fusion.reciprocal_rank_fusion`, dense listed first as
:meth:`integrations.qdrant.QdrantIngestor.search` lists it). With a re-ranker, each first stage also
followed by it: its first ``rerank_top_k`` candidates re-ordered by the fusion rule
(:mod:`sbert_plugins.cross_encoder.fusion`: the re-ranker's logits mixed with the bi-encoder's similarities),
at a weight tuned on the validation queries for that first stage's candidates. Every stack is scored on the
validation queries (the choice) and on the dev queries (the report); the best by validation nDCG@10 wins,
the simpler stack on ties.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sbert_plugins.bm25 import BM25Index
from sbert_plugins.evaluation.metrics import retrieval_metrics
from sbert_plugins.rank_fusion import RRF_K, reciprocal_rank_fusion
from sbert_plugins.stack_record import stack_name
from trainers.finetune.evaluation import CUTOFFS, PRIMARY, RerankedHeads, choose_fusion_weight, rerank_metrics

logger = logging.getLogger(__name__)

Rankings = dict[str, list[str]]  # query id -> document ids, best first
PairScores = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], float]]  # (query id, doc id) -> score


def bm25_rankings(index: BM25Index, corpus_ids: Sequence[str], queries: Mapping[str, str], depth: int) -> Rankings:
    """Each query's ``depth`` best documents by BM25, best first (ties in corpus order); documents that share no
    term with the query are left out, as a sparse search in the store leaves them out."""
    rankings: Rankings = {}
    for query_id, text in queries.items():
        scores = index.scores(text)
        order = np.argsort(-scores, kind="stable")[:depth]
        rankings[query_id] = [corpus_ids[i] for i in order if scores[i] > 0]
    return rankings


def fused_rankings(first: Rankings, second: Rankings, depth: int, *, k: int = RRF_K) -> Rankings:
    """Reciprocal rank fusion of two sides' rankings per query (``first`` listed first), cut to ``depth``."""
    return {
        query_id: [doc for doc, _ in reciprocal_rank_fusion([first[query_id], second[query_id]], k=k, limit=depth)]
        for query_id in first
    }


def first_stages(dense: Rankings, bm25: Rankings, sparse: Rankings | None, depth: int) -> dict[str, Rankings]:
    """Every first stage's rankings, in the order ties are settled (simplest first)."""
    stages = {"dense": dense, "bm25": bm25, "dense+bm25": fused_rankings(dense, bm25, depth)}
    if sparse is not None:
        stages["sparse"] = sparse
        stages["dense+sparse"] = fused_rankings(dense, sparse, depth)
    return stages


def _heads(
    rankings: Rankings,
    query_ids: Sequence[str],
    relevant: Mapping[str, Sequence[str]],
    top_k: int,
    first_stage: Mapping[tuple[str, str], float],
    reranker: Mapping[tuple[str, str], float],
) -> RerankedHeads:
    heads = [rankings[q][:top_k] for q in query_ids]
    return RerankedHeads(
        heads=heads,
        first_stage=[[first_stage[(q, d)] for d in head] for q, head in zip(query_ids, heads, strict=True)],
        reranker=[np.asarray([reranker[(q, d)] for d in head]) for q, head in zip(query_ids, heads, strict=True)],
        tails=[rankings[q][top_k:] for q in query_ids],
        relevant=[set(relevant[q]) for q in query_ids],
    )


def compare_stacks(
    stages: Mapping[str, Rankings],
    relevant: Mapping[str, Sequence[str]],
    validation_ids: Sequence[str],
    dev_ids: Sequence[str],
    *,
    top_k: int,
    dense_scores: PairScores | None = None,
    reranker_scores: PairScores | None = None,
) -> dict[str, Any]:
    """Score every stack on the validation and dev queries and choose one.

    Args:
        stages: first stage name -> rankings of every validation and dev query (:func:`first_stages`).
        relevant: query id -> relevant document ids.
        validation_ids, dev_ids: the queries the choice is made on, and those reported.
        top_k: candidates the re-ranker re-orders.
        dense_scores, reranker_scores: with a re-ranker, functions giving the bi-encoder's similarity and the
            re-ranker's logit of (query id, document id) pairs (the fusion rule's two inputs).

    Returns:
        ``{"stacks": {name: {"validation": {...}, "dev": {...}, "fusion_weight": w}}, "chosen": name,
        "first_stage": name, "fusion_weight": w or None}``; metrics as ``retrieval_metrics`` gives them.
    """
    stacks: dict[str, dict[str, Any]] = {}

    def metrics(rankings: Rankings, query_ids: Sequence[str]) -> dict[str, float]:
        return retrieval_metrics([rankings[q] for q in query_ids], [relevant[q] for q in query_ids], CUTOFFS)

    for name, rankings in stages.items():
        stacks[stack_name(name, False)] = {
            "validation": metrics(rankings, validation_ids),
            "dev": metrics(rankings, dev_ids),
        }
    if dense_scores is not None and reranker_scores is not None:
        everyone = list(validation_ids) + list(dev_ids)
        pairs = sorted({(q, d) for rankings in stages.values() for q in everyone for d in rankings[q][:top_k]})
        first, second = dense_scores(pairs), reranker_scores(pairs)
        for name, rankings in stages.items():
            validation = _heads(rankings, validation_ids, relevant, top_k, first, second)
            weight = choose_fusion_weight(validation)
            dev = _heads(rankings, dev_ids, relevant, top_k, first, second)
            stacks[stack_name(name, True)] = {
                "validation": rerank_metrics(validation, weight),
                "dev": rerank_metrics(dev, weight),
                "fusion_weight": weight,
            }
    chosen = max(stacks, key=lambda name: (stacks[name]["validation"][PRIMARY], -list(stacks).index(name)))
    for name, result in stacks.items():
        logger.info(
            "stack %-22s validation %s %.4f, dev %.4f%s",
            name,
            PRIMARY,
            result["validation"][PRIMARY],
            result["dev"][PRIMARY],
            "  <- chosen" if name == chosen else "",
        )
    first_stage = chosen.removesuffix("+reranker")
    return {
        "stacks": stacks,
        "chosen": chosen,
        "first_stage": first_stage,
        "fusion_weight": stacks[chosen].get("fusion_weight"),
    }
