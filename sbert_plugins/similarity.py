"""Similarity functions between embeddings, and search/mining helpers built on them.

All functions take numpy arrays or torch tensors (1-D or 2-D) and return torch tensors.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.errors import ConfigError

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

ArrayLike = Tensor | np.ndarray | Sequence[Sequence[float]] | Sequence[float]
SimilarityName = Literal["cosine", "dot", "euclidean", "manhattan"]
ScoreFunction = Callable[[Any, Any], Tensor]


def _as_2d(x: Any) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() != 2:
        raise ConfigError(f"expected embeddings of 1 or 2 dimensions, found shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.float()
    return t


def cos_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``: shape ``(len(a), len(b))``."""
    return F.normalize(_as_2d(a), p=2, dim=1) @ F.normalize(_as_2d(b), p=2, dim=1).T


def dot_score(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product of every row of ``a`` with every row of ``b``."""
    return _as_2d(a) @ _as_2d(b).T


def euclidean_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative euclidean distance (higher is more similar)."""
    return -torch.cdist(_as_2d(a), _as_2d(b), p=2.0)


def manhattan_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative manhattan distance (higher is more similar)."""
    return -torch.cdist(_as_2d(a), _as_2d(b), p=1.0)


SIMILARITY_FUNCTIONS: dict[str, ScoreFunction] = {
    "cosine": cos_sim,
    "dot": dot_score,
    "euclidean": euclidean_sim,
    "manhattan": manhattan_sim,
}


def similarity_function(name: str) -> ScoreFunction:
    """The similarity function called ``name`` (``cosine``, ``dot``, ``euclidean``, ``manhattan``)."""
    if name not in SIMILARITY_FUNCTIONS:
        raise ConfigError(f"unknown similarity function {name!r}; use one of {sorted(SIMILARITY_FUNCTIONS)}")
    return SIMILARITY_FUNCTIONS[name]


def semantic_search(
    query_embeddings: ArrayLike,
    corpus_embeddings: ArrayLike,
    *,
    top_k: int = 10,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 50_000,
    score_function: ScoreFunction = cos_sim,
) -> list[list[dict[str, float | int]]]:
    """Top-k corpus entries for each query, best first: ``[[{"corpus_id": i, "score": s}, ...], ...]``.

    Scores are computed one (query chunk x corpus chunk) block at a time, so memory stays bounded
    by the chunk sizes however large the corpus is.
    """
    for name, value in (
        ("top_k", top_k),
        ("query_chunk_size", query_chunk_size),
        ("corpus_chunk_size", corpus_chunk_size),
    ):
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, found {value!r}")
    queries = _as_2d(query_embeddings)
    corpus = _as_2d(corpus_embeddings)
    if queries.size(1) != corpus.size(1):
        raise ConfigError(f"query dimension {queries.size(1)} differs from corpus dimension {corpus.size(1)}")
    corpus = corpus.to(queries.device)
    best: list[list[tuple[float, int]]] = [[] for _ in range(len(queries))]
    for q_start in range(0, len(queries), query_chunk_size):
        q_chunk = queries[q_start : q_start + query_chunk_size]
        for c_start in range(0, len(corpus), corpus_chunk_size):
            scores = score_function(q_chunk, corpus[c_start : c_start + corpus_chunk_size])
            k = min(top_k, scores.size(1))
            values, indices = torch.topk(scores, k, dim=1, largest=True, sorted=False)
            for row, (vals, idxs) in enumerate(zip(values.tolist(), indices.tolist())):
                heap = best[q_start + row]
                for score, idx in zip(vals, idxs):
                    # Ties are broken in favour of the lower corpus id, so results are deterministic.
                    item = (score, -(c_start + idx))
                    if len(heap) < top_k:
                        heapq.heappush(heap, item)
                    elif item > heap[0]:
                        heapq.heapreplace(heap, item)
    return [[{"corpus_id": -neg_id, "score": score} for score, neg_id in sorted(heap, reverse=True)] for heap in best]


def paraphrase_mining(
    model: SentenceEncoder,
    sentences: list[str],
    *,
    top_k: int = 100,
    max_pairs: int = 500_000,
    batch_size: int = 32,
    chunk_size: int = 5_000,
    show_progress: bool | None = None,
) -> list[tuple[float, int, int]]:
    """Encode ``sentences`` and return the most similar pairs as ``(score, i, j)`` with ``i < j``, best first."""
    embeddings = model.encode(sentences, batch_size=batch_size, convert_to="torch", show_progress=show_progress)
    return paraphrase_mining_embeddings(
        embeddings, top_k=top_k, max_pairs=max_pairs, chunk_size=chunk_size, score_function=model.similarity
    )


def paraphrase_mining_embeddings(
    embeddings: ArrayLike,
    *,
    top_k: int = 100,
    max_pairs: int = 500_000,
    chunk_size: int = 5_000,
    score_function: ScoreFunction = cos_sim,
) -> list[tuple[float, int, int]]:
    """Like :func:`paraphrase_mining` on precomputed embeddings: ``(score, i, j)`` pairs, best first."""
    for name, value in (("top_k", top_k), ("max_pairs", max_pairs), ("chunk_size", chunk_size)):
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, found {value!r}")
    emb = _as_2d(embeddings)
    n = len(emb)
    # Each sentence's own top_k neighbours (itself excluded) are the candidate pairs.
    heap: list[tuple[float, int, int]] = []
    for start in range(0, n, chunk_size):
        scores = score_function(emb[start : start + chunk_size], emb)
        rows = torch.arange(scores.size(0))
        scores[rows, rows + start] = float("-inf")
        k = min(top_k, n - 1)
        if k <= 0:
            break
        values, indices = torch.topk(scores, k, dim=1)
        for row, (vals, idxs) in enumerate(zip(values.tolist(), indices.tolist())):
            i = start + row
            for score, j in zip(vals, idxs):
                if i == j:
                    continue
                pair = (score, min(i, j), max(i, j))
                if len(heap) < max_pairs * 2:
                    heapq.heappush(heap, pair)
                elif pair > heap[0]:
                    heapq.heapreplace(heap, pair)
    seen: set[tuple[int, int]] = set()
    result: list[tuple[float, int, int]] = []
    for score, i, j in sorted(heap, key=lambda p: (-p[0], p[1], p[2])):
        if (i, j) not in seen:
            seen.add((i, j))
            result.append((score, i, j))
            if len(result) == max_pairs:
                break
    return result
