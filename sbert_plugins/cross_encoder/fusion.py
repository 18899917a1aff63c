"""The one fusion rule: how a re-ranker's scores and the first stage's (bi-encoder) scores of the same
candidates are mixed, and how the mixing weight is picked on labelled validation queries.

A cross-encoder trained on little data can be worse than the bi-encoder alone and still know something
the bi-encoder does not; a weighted sum of both scores keeps what each gets right. Every place that mixes
the two (``finetune``'s tuning, ``examples/train_reranker.py``, ``SBERTReranker``,
``RerankingRetriever``, ``sbert-plugins search --rerank``) follows this definition:

- **Candidates**: one query's candidates are the first stage's best ``n`` documents for it; the weight is
  tuned over ``n`` candidates per query, and ``n`` is recorded with it (:class:`FusionRecord`
  ``candidates``), so that callers re-rank as many by default.
- **Re-ranker input**: the cross-encoder's raw logits (:func:`reranker_scores`), not probabilities: a
  sigmoid squeezes the candidates the model is sure of into nearly equal scores (0.9991 vs 0.9999), and
  their differences are lost before standardising; the logits keep them.
- **First-stage input**: the bi-encoder's similarity (its ``similarity_fn_name``, e.g. cosine) between the
  query's embedding (query prompt) and each candidate's (document prompt) (:func:`first_stage_scores`);
  never a vector store's search score, which is a fused rank score (RRF) on hybrid collections.
- **Standardised**: each of the two lists is turned into z-scores over the query's candidates (mean 0,
  standard deviation 1; a constant list becomes zeros), then ``weight * z(re-ranker) + (1 - weight) *
  z(first stage)`` (:func:`fuse_scores`); candidates are sorted by it, descending, ties in input order.

The weight, the candidate count and the fingerprint of the bi-encoder it was tuned with are saved in the
re-ranker's folder (:mod:`sbert_plugins.cross_encoder.fusion_record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.metrics import ndcg_at_k

# Weights tried by tune_fusion_weight: 0.0 is the first stage alone, 1.0 the re-ranker alone.
FUSION_GRID = tuple(round(0.05 * i, 2) for i in range(21))


def reranker_scores(reranker: Any, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
    """The re-ranker input of the fusion rule: one raw score (logit) per ``(query, text)`` pair.

    Args:
        reranker: a :class:`~sbert_plugins.cross_encoder.CrossEncoder` (its logits: ``activation="identity"``),
            or any object with ``predict(pairs, batch_size=...)`` returning one score per pair (used as given).
        pairs: the (query, candidate text) pairs.
        batch_size: pairs per forward pass.

    Returns:
        float64 scores, shape ``(len(pairs),)``.

    Raises:
        ValueError: the scorer returned another number of scores.
    """
    from sbert_plugins.cross_encoder.model import CrossEncoder  # the model module imports torch models

    pairs = list(pairs)
    if not pairs:
        return np.zeros(0)
    if isinstance(reranker, CrossEncoder):
        raw: Any = reranker.predict(pairs, batch_size=batch_size, activation="identity")
    else:
        raw = reranker.predict(pairs, batch_size=batch_size)
    scores = np.asarray(raw.detach().cpu() if hasattr(raw, "detach") else raw, dtype=np.float64).reshape(-1)
    if len(scores) != len(pairs):
        raise ValueError(f"{type(reranker).__name__}.predict returned {len(scores)} scores for {len(pairs)} pairs")
    return scores


def first_stage_scores(encoder: Any, query: str, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """The first-stage input of the fusion rule: the bi-encoder's similarity between ``query`` (embedded
    with the query prompt) and each text (document prompt).

    Args:
        encoder: a :class:`~sbert_plugins.SentenceEncoder` (the bi-encoder that found the candidates).
        query: the query.
        texts: the candidates' texts, as they were embedded for the first stage.
        batch_size: texts per forward pass.

    Returns:
        float64 scores, shape ``(len(texts),)``.
    """
    if not texts:
        return np.zeros(0)
    query_embedding = encoder.encode_queries([query], batch_size=batch_size, convert_to="torch", show_progress=False)
    text_embeddings = encoder.encode_documents(
        list(texts), batch_size=batch_size, convert_to="torch", show_progress=False
    )
    similarity = encoder.similarity(query_embedding, text_embeddings)
    return np.asarray(similarity.reshape(-1).float().cpu().numpy(), dtype=np.float64)


def fused_order(first_stage: ArrayLike, reranker: ArrayLike, weight: float) -> list[int]:
    """Candidate indices sorted by :func:`fuse_scores`, best first; ties keep the input order.

    Raises:
        as :func:`fuse_scores`.
    """
    return np.argsort(-fuse_scores(first_stage, reranker, weight), kind="stable").tolist()  # type: ignore[no-any-return]


def fuse_scores(first_stage: ArrayLike, reranker: ArrayLike, weight: float) -> np.ndarray:
    """``weight * z(reranker) + (1 - weight) * z(first_stage)`` for one query's candidates, where ``z``
    standardises a score list to mean 0 and standard deviation 1 (a constant list becomes all zeros).

    Args:
        first_stage: the candidates' first-stage scores (:func:`first_stage_scores`), shape ``(n,)``.
        reranker: the same candidates' re-ranker scores (:func:`reranker_scores`: logits), shape ``(n,)``.
        weight: the re-ranker's share, from 0.0 (first stage only) to 1.0 (re-ranker only).

    Returns:
        the fused scores, float64, shape ``(n,)``; sort descending to re-rank.

    Raises:
        ConfigError: ``weight`` outside [0, 1]. ValueError: the two lists differ in length.
    """
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"fusion weight must lie in [0, 1], found {weight!r}")
    first = np.asarray(first_stage, dtype=np.float64).ravel()
    second = np.asarray(reranker, dtype=np.float64).ravel()
    if len(first) != len(second):
        raise ValueError(f"first_stage has {len(first)} scores but reranker has {len(second)}")
    return weight * _standardised(second) + (1.0 - weight) * _standardised(first)


@dataclass(frozen=True)
class FusionFit:
    """The outcome of :func:`tune_fusion_weight`.

    Attributes:
        weight: the re-ranker's share with the best mean nDCG@k (the smallest such weight on ties).
        ndcg: mean nDCG@k at that weight.
        ndcg_by_weight: mean nDCG@k of every weight tried; ``[0.0]`` is the first stage alone and
            ``[1.0]`` the re-ranker alone (when those weights were tried).
    """

    weight: float
    ndcg: float
    ndcg_by_weight: dict[float, float] = field(repr=False)


def fused_ndcg(
    first_stage: Sequence[ArrayLike],
    reranker: Sequence[ArrayLike],
    relevance: Sequence[ArrayLike],
    weight: float,
    *,
    missed: Sequence[int] | None = None,
    k: int = 10,
) -> float:
    """Mean nDCG@k over queries of their candidates ordered by :func:`fuse_scores` at ``weight``.

    Args:
        first_stage, reranker, relevance: one entry per query: the candidates' first-stage scores,
            re-ranker scores and relevance labels (1/0 or graded), all the same length.
        weight: the re-ranker's share (0.0: the first stage's order, 1.0: the re-ranker's).
        missed: per query, how many relevant documents are not among the candidates; they count as
            ranked last, so nDCG is measured against all relevant documents (default: none missed).
        k: the nDCG cut-off.

    Raises:
        ValueError: no queries, queries of different counts, or a query whose lists differ in length
            (named by its index). ConfigError: ``weight`` outside [0, 1].
    """
    return _mean_ndcg(_standardised_queries(first_stage, reranker, relevance, missed), weight, k)


def tune_fusion_weight(
    first_stage: Sequence[ArrayLike],
    reranker: Sequence[ArrayLike],
    relevance: Sequence[ArrayLike],
    *,
    missed: Sequence[int] | None = None,
    k: int = 10,
    weights: Sequence[float] = FUSION_GRID,
) -> FusionFit:
    """Pick the :func:`fuse_scores` weight with the best mean nDCG@k (see :func:`fused_ndcg`) over
    labelled queries: use queries the re-ranker was not trained on, and not the ones you report on.

    Args:
        first_stage, reranker, relevance, missed, k: as for :func:`fused_ndcg`.
        weights: the weights to try, each in [0, 1].

    Returns:
        a :class:`FusionFit`.

    Raises:
        as :func:`fused_ndcg`; ConfigError also for an empty grid.
    """
    if not weights:
        raise ConfigError("weights must name at least one fusion weight to try")
    queries = _standardised_queries(first_stage, reranker, relevance, missed)
    by_weight = {float(weight): _mean_ndcg(queries, weight, k) for weight in weights}
    best = max(by_weight.values())
    chosen = min(w for w, value in by_weight.items() if value == best)
    return FusionFit(weight=chosen, ndcg=best, ndcg_by_weight=by_weight)


_Query = tuple[np.ndarray, np.ndarray, np.ndarray]  # standardised first stage, standardised re-ranker, gains


def _standardised_queries(
    first_stage: Sequence[ArrayLike],
    reranker: Sequence[ArrayLike],
    relevance: Sequence[ArrayLike],
    missed: Sequence[int] | None,
) -> list[_Query]:
    counts = {len(first_stage), len(reranker), len(relevance)} | ({len(missed)} if missed is not None else set())
    if len(counts) != 1 or not first_stage:
        raise ValueError(
            "first_stage, reranker, relevance (and missed) need one entry per query, and at least one query; "
            f"found {len(first_stage)}, {len(reranker)}, {len(relevance)}"
            + (f", {len(missed)}" if missed is not None else "")
        )
    queries = []
    for index, (first, second, labels) in enumerate(zip(first_stage, reranker, relevance, strict=True)):
        first_z, second_z = _standardised(first), _standardised(second)
        gains = np.asarray(labels, dtype=np.float64).ravel()
        if not len(first_z) == len(second_z) == len(gains):
            raise ValueError(
                f"query {index}: {len(first_z)} first-stage scores, {len(second_z)} re-ranker scores and "
                f"{len(gains)} labels; they must be equal"
            )
        lost = missed[index] if missed is not None else 0
        queries.append((first_z, second_z, np.concatenate([gains, np.ones(lost)])))
    return queries


def _mean_ndcg(queries: list[_Query], weight: float, k: int) -> float:
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"fusion weight must lie in [0, 1], found {weight!r}")
    found = []
    for first, second, gains in queries:
        fused = weight * second + (1.0 - weight) * first
        padded = np.concatenate([fused, np.full(len(gains) - len(fused), -np.inf)])  # missed ones rank last
        found.append(ndcg_at_k(gains, padded, k))
    return float(np.mean(found))


def _standardised(scores: ArrayLike) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64).ravel()
    if len(values) == 0:
        return values
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)
