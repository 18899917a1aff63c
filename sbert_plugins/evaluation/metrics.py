"""The metric maths behind the evaluators, in numpy: correlations, threshold search, ranking metrics.

Every function takes plain arrays (no model), so tests can feed hand-made scores. Ties are handled
the way the usual references do: Spearman uses average ranks, average precision and the threshold
searches treat equal scores as one group, and :func:`ndcg_at_k` averages the gain over tied scores.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def average_ranks(values: ArrayLike) -> np.ndarray:
    """1-based ranks of ``values`` (ascending); tied values all get the mean of the ranks they span."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]] if len(x) else np.zeros(0, dtype=bool)
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], len(x)]  # exclusive: the group covers 1-based ranks starts+1 .. ends
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson correlation of ``x`` and ``y``; ``nan`` when either is constant (the correlation is undefined).

    Raises:
        ValueError: the inputs differ in length or hold fewer than two values.
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"pearson needs two sequences of equal length >= 2, found {len(a)} and {len(b)}")
    a = a - a.mean()
    b = b - b.mean()
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0:
        return float("nan")
    return float(np.clip(np.dot(a / norm_a, b / norm_b), -1.0, 1.0))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation: the Pearson correlation of the average ranks of ``x`` and ``y``."""
    return pearson(average_ranks(x), average_ranks(y))


def average_precision(labels: ArrayLike, scores: ArrayLike, *, missing: int = 0) -> float:
    """Average precision of ``scores`` (higher = more likely positive) against 0/1 ``labels``.

    The sum over distinct score thresholds, from the highest down, of (recall gained) x precision;
    tied scores form one threshold. 0.0 when there is no positive label. ``missing`` counts positives
    that are not among the scored items (a retrieval that missed them): they are never recalled, so the
    result is scaled by found / (found + missing).
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(y) != len(s):
        raise ValueError(f"labels ({len(y)}) and scores ({len(s)}) differ in length")
    if len(y) == 0 or y.sum() == 0:
        return 0.0
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    true_pos = np.cumsum(y)[last_of_group]
    precision = true_pos / (last_of_group + 1)
    recall = true_pos / true_pos[-1]
    found = float(true_pos[-1])
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision)) * found / (found + missing)


def matthews_corrcoef(labels: ArrayLike, predicted: ArrayLike) -> float:
    """Matthews correlation of 0/1 ``predicted`` with 0/1 ``labels``; 0.0 when it is undefined."""
    y = np.asarray(labels).astype(bool).ravel()
    p = np.asarray(predicted).astype(bool).ravel()
    tp = float(np.sum(y & p))
    tn = float(np.sum(~y & ~p))
    fp = float(np.sum(~y & p))
    fn = float(np.sum(y & ~p))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else float((tp * tn - fp * fn) / denominator)


@dataclass(frozen=True)
class _Sweep:
    """Scores sorted from most to least similar, cut into groups of equal score."""

    scores: np.ndarray
    positives: np.ndarray  # positives among the first i + 1 sorted rows
    group_ends: np.ndarray  # index of the last row of each group of equal scores


def _sweep(scores: ArrayLike, labels: ArrayLike, greater_is_better: bool) -> _Sweep:
    s = np.asarray(scores)
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    s = s.ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    if len(s) != len(y) or len(s) == 0:
        raise ValueError(f"scores ({len(s)}) and labels ({len(y)}) must be non-empty and of equal length")
    order = np.argsort(-s if greater_is_better else s, kind="mergesort")
    s, y = s[order], y[order]
    return _Sweep(scores=s, positives=np.cumsum(y), group_ends=np.r_[np.flatnonzero(np.diff(s)), len(s) - 1])


def _threshold_after(sweep: _Sweep, end: int) -> float:
    """A threshold that keeps rows 0..end and drops the next group: the midpoint, or the score itself."""
    s = sweep.scores
    if end == len(s) - 1:
        return float(s[end])
    midpoint = (s[end] + s[end + 1]) / 2
    return float(s[end] if midpoint == s[end + 1] else midpoint)


def best_accuracy_threshold(
    scores: ArrayLike, labels: ArrayLike, *, greater_is_better: bool = True
) -> tuple[float, float]:
    """The best accuracy of predicting ``label = 1`` for scores on the similar side of a threshold.

    Returns ``(accuracy, threshold)``. With ``greater_is_better`` a pair is predicted positive when
    ``score >= threshold`` (for distances: ``score <= threshold``). The first threshold tried predicts
    everything negative; among equal accuracies the most selective threshold wins.
    """
    sweep = _sweep(scores, labels, greater_is_better)
    n = len(sweep.scores)
    total_pos = int(sweep.positives[-1])
    negatives_left = (n - total_pos) - ((sweep.group_ends + 1) - sweep.positives[sweep.group_ends])
    accuracies = (sweep.positives[sweep.group_ends] + negatives_left) / n
    best_acc = (n - total_pos) / n
    first = sweep.scores[0]
    best_threshold = float(np.nextafter(first, np.inf if greater_is_better else -np.inf, dtype=first.dtype))
    best = int(np.argmax(accuracies))
    if accuracies[best] > best_acc:
        best_acc = float(accuracies[best])
        best_threshold = _threshold_after(sweep, int(sweep.group_ends[best]))
    return float(best_acc), best_threshold


def best_f1_threshold(
    scores: ArrayLike, labels: ArrayLike, *, greater_is_better: bool = True
) -> tuple[float, float, float, float]:
    """The best F1 over thresholds: returns ``(f1, precision, recall, threshold)`` (all 0 with no positive)."""
    sweep = _sweep(scores, labels, greater_is_better)
    total_pos = int(sweep.positives[-1])
    correct = sweep.positives[sweep.group_ends].astype(np.float64)
    extracted = (sweep.group_ends + 1).astype(np.float64)
    valid = correct > 0
    if total_pos == 0 or not valid.any():
        return 0.0, 0.0, 0.0, 0.0
    precision = np.where(valid, correct / extracted, 0.0)
    recall = correct / total_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(valid, 2 * precision * recall / (precision + recall), -1.0)
    best = int(np.argmax(f1))
    return (
        float(f1[best]),
        float(precision[best]),
        float(recall[best]),
        _threshold_after(sweep, int(sweep.group_ends[best])),
    )


def ndcg_at_k(relevance: ArrayLike, scores: ArrayLike, k: int, *, missing: int = 0) -> float:
    """nDCG@k of ranking the items by ``scores`` (descending) against graded ``relevance``.

    Items with equal scores share their positions: each gets the mean discount of the positions the
    group spans (so the result does not depend on how ties are ordered). 0.0 when nothing is relevant.
    ``missing`` counts relevant items (gain 1) absent from the ranking: they enter the ideal ranking only.
    """
    rel = np.asarray(relevance, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(rel) != len(s):
        raise ValueError(f"relevance ({len(rel)}) and scores ({len(s)}) differ in length")
    discount = 1.0 / np.log2(np.arange(len(rel) + missing) + 2)
    discount[k:] = 0.0
    ideal_gains = np.sort(np.r_[rel, np.ones(missing)])[::-1]
    ideal = float(np.sum(ideal_gains * discount))
    discount = discount[: len(rel)]
    if ideal == 0:
        return 0.0
    _, group, counts = np.unique(-s, return_inverse=True, return_counts=True)
    gain_per_group = np.zeros(len(counts))
    np.add.at(gain_per_group, group, rel)
    cumulative = np.cumsum(discount)[np.cumsum(counts) - 1]
    discount_per_group = np.diff(np.r_[0.0, cumulative])
    return float(np.sum(gain_per_group / counts * discount_per_group) / ideal)


def reciprocal_rank_at_k(is_relevant: Sequence[bool], k: int) -> float:
    """1 / (rank of the first relevant item) if it is among the first ``k``, else 0.0."""
    for rank, hit in enumerate(is_relevant[:k], start=1):
        if hit:
            return 1.0 / rank
    return 0.0


@dataclass(frozen=True)
class RetrievalCutoffs:
    """The k values each retrieval metric is reported at."""

    accuracy: tuple[int, ...] = (1, 3, 5, 10)
    precision_recall: tuple[int, ...] = (1, 3, 5, 10)
    mrr: tuple[int, ...] = (10,)
    ndcg: tuple[int, ...] = (10,)
    map: tuple[int, ...] = (100,)

    @property
    def max_k(self) -> int:
        return max(max(ks) for ks in (self.accuracy, self.precision_recall, self.mrr, self.ndcg, self.map))


def retrieval_metrics(
    ranked: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]], cutoffs: RetrievalCutoffs
) -> dict[str, float]:
    """Mean accuracy@k, precision@k, recall@k, MRR@k, nDCG@k and MAP@k over queries (binary relevance).

    Args:
        ranked: for each query, the retrieved ids, best first (at least ``cutoffs.max_k`` when available).
        relevant: for each query, the non-empty collection of its relevant ids.
        cutoffs: the k values to report.

    Returns:
        ``{"accuracy@1": ..., "precision@1": ..., "recall@1": ..., "mrr@10": ..., "ndcg@10": ..., "map@100": ...}``.
    """
    if len(ranked) != len(relevant) or not ranked:
        raise ValueError(f"ranked ({len(ranked)}) and relevant ({len(relevant)}) must be non-empty and of equal length")
    sums: dict[str, float] = {}

    def add(key: str, value: float) -> None:
        sums[key] = sums.get(key, 0.0) + value

    for ids, rel in zip(ranked, relevant, strict=True):
        hits = [doc_id in rel for doc_id in ids[: cutoffs.max_k]]
        hit_ranks = np.flatnonzero(hits) + 1  # 1-based ranks of the relevant hits
        for k in cutoffs.accuracy:
            add(f"accuracy@{k}", float(any(hits[:k])))
        for k in cutoffs.precision_recall:
            found = sum(hits[:k])
            add(f"precision@{k}", found / k)
            add(f"recall@{k}", found / len(rel))
        for k in cutoffs.mrr:
            add(f"mrr@{k}", reciprocal_rank_at_k(hits, k))
        for k in cutoffs.ndcg:
            dcg = float(np.sum(1.0 / np.log2(hit_ranks[hit_ranks <= k] + 1)))
            ideal = float(np.sum(1.0 / np.log2(np.arange(1, min(len(rel), k) + 1) + 1)))
            add(f"ndcg@{k}", dcg / ideal)
        for k in cutoffs.map:
            within = hit_ranks[hit_ranks <= k]
            precisions = np.arange(1, len(within) + 1) / within
            add(f"map@{k}", float(np.sum(precisions)) / min(k, len(rel)))
    return {key: value / len(ranked) for key, value in sums.items()}
