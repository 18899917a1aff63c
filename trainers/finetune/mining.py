"""Hard-negative mining with the base model, and the training rows built from it.

A hard negative is a document the base model ranks high for a query although it is not marked
relevant. The very top of that ranking is also where relevant documents that nobody labelled hide
(false negatives), so mining skips the first ranks and anything scoring too close to the positive.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sbert_plugins.modules import Router

QUERY_CHUNK = 256


def mine_hard_negatives(
    scores: Tensor,
    positives: Sequence[Sequence[int]],
    *,
    num_negatives: int,
    skip_top: int,
    depth: int,
    margin: float,
) -> list[dict[int, list[int]]]:
    """Pick hard negatives per (query, positive) pair.

    Args:
        scores: ``(queries, documents)`` similarities from the base model (higher is more similar).
        positives: for each query, the indices of its relevant documents (never chosen as negatives).
        num_negatives: negatives per pair (at most; fewer when the filters leave fewer).
        skip_top: ignore the first ``skip_top`` non-relevant documents of each ranking.
        depth: only consider the first ``depth`` non-relevant documents.
        margin: keep a candidate only when ``score(candidate) <= score(positive) - margin``.

    Returns:
        for each query, ``{positive index: [negative indices, hardest first]}``.
    """
    found: list[dict[int, list[int]]] = []
    n_docs = scores.shape[1]
    for start in range(0, scores.shape[0], QUERY_CHUNK):
        block = scores[start : start + QUERY_CHUNK]
        widest = max(len(p) for p in positives[start : start + QUERY_CHUNK])
        top = torch.topk(block, k=min(n_docs, depth + widest), dim=1)
        for row in range(block.shape[0]):
            own = positives[start + row]
            ranked = [i for i in top.indices[row].tolist() if i not in own][skip_top:depth]
            per_positive: dict[int, list[int]] = {}
            for positive in own:
                ceiling = float(block[row, positive]) - margin
                per_positive[positive] = [i for i in ranked if float(block[row, i]) <= ceiling][:num_negatives]
            found.append(per_positive)
    return found


def fill_negatives(
    chosen: Sequence[str], excluded: set[str], corpus_ids: Sequence[str], wanted: int, rng: random.Random
) -> list[str]:
    """``chosen`` (deduplicated, in order) topped up with random corpus documents not in ``excluded`` to ``wanted``."""
    result = [d for d in dict.fromkeys(chosen) if d not in excluded][:wanted]
    available = len(corpus_ids) - len(excluded | set(result))
    while len(result) < wanted and available > 0:
        candidate = corpus_ids[rng.randrange(len(corpus_ids))]
        if candidate not in excluded and candidate not in result:
            result.append(candidate)
            available -= 1
    return result


def bi_encoder_rows(
    query_ids: Sequence[str],
    queries: Mapping[str, str],
    corpus: Mapping[str, str],
    relevant: Mapping[str, Sequence[str]],
    negatives: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    num_negatives: int,
    seed: int,
) -> list[dict[str, str]]:
    """Training rows ``{"query", "positive", "negative_1", ...}``, one per (query, positive) pair, for
    MultipleNegativesRankingLoss. Every row has the same number of negatives: mined (or given) ones first,
    topped up with random documents when mining found too few (as many as the corpus allows).
    """
    corpus_ids = list(corpus)
    most_positives = max(len(relevant[q]) for q in query_ids)
    count = max(0, min(num_negatives, len(corpus_ids) - most_positives))
    rng = random.Random(seed)
    rows = []
    for q in query_ids:
        for positive in relevant[q]:
            row = {"query": queries[q], "positive": corpus[positive]}
            picked = fill_negatives(negatives.get(q, {}).get(positive, []), set(relevant[q]), corpus_ids, count, rng)
            row.update({f"negative_{i + 1}": corpus[d] for i, d in enumerate(picked)})
            rows.append(row)
    return rows


def title_rows(
    doc_ids: Sequence[str],
    titled: Mapping[str, tuple[str, str]],
    negatives: Mapping[str, Sequence[str]],
    *,
    num_negatives: int,
) -> list[dict[str, str]]:
    """Pseudo-query rows ``{"query": title, "positive": text, "negative_1": other text, ...}`` for documents
    with a title: a title is a short statement of what its text is about. Negatives are the texts (without
    titles, like the positive) of the documents mined for the title; documents with fewer than
    ``num_negatives`` mined negatives are skipped, so every row has the same columns."""
    rows = []
    for doc_id in doc_ids:
        mined = [d for d in negatives.get(doc_id, []) if d != doc_id and d in titled][:num_negatives]
        if len(mined) < num_negatives:
            continue
        row = {"query": titled[doc_id][0], "positive": titled[doc_id][1]}
        row.update({f"negative_{i + 1}": titled[d][1] for i, d in enumerate(mined)})
        rows.append(row)
    return rows


def query_document_mapping(model: Any, columns: Sequence[str]) -> dict[str, str]:
    """For a model with a Router: the ``query`` column takes the query route, the others the document
    route (so both branches train); an empty mapping for other models."""
    if not isinstance(model[0], Router):
        return {}
    return {column: "query" if column == "query" else "document" for column in columns}
