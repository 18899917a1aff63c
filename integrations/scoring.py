"""What a reranker needs from a model: scores for (query, text) pairs (vendor-free, shared by the adapters).

:class:`PairScorer` is the protocol; a :class:`~sbert_plugins.cross_encoder.CrossEncoder` follows it,
and :class:`BiEncoderScorer` makes a :class:`~sbert_plugins.SentenceEncoder` follow it too.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from integrations._encoder_lock import encoder_lock
from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import IntegrationError


@runtime_checkable
class PairScorer(Protocol):
    """Anything that scores (query, text) pairs: higher means more relevant.

    ``predict(pairs, batch_size=...)`` returns one score per pair, in order, as a 1-D array-like
    (an ``(n, 1)`` array is accepted too).
    """

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = ...) -> Any: ...


class BiEncoderScorer:
    """Scores (query, text) pairs with a bi-encoder: the model's similarity between the query's
    embedding (query prompt) and the text's embedding (document prompt).

    Each distinct query is embedded once, so re-scoring ``n`` candidates of one query costs one
    query embedding and ``n`` document embeddings.

    Args:
        encoder: the :class:`SentenceEncoder` to embed with.
    """

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        """Return a float32 array of one similarity per pair, in the order of ``pairs``."""
        scores = np.zeros(len(pairs), dtype=np.float32)
        if not pairs:
            return scores
        rows_of: dict[str, list[int]] = {}
        for row, (query, _) in enumerate(pairs):
            rows_of.setdefault(query, []).append(row)
        queries = list(rows_of)
        with encoder_lock(self.encoder):
            query_embeddings = self.encoder.encode_queries(queries, batch_size=batch_size, convert_to="torch")
            text_embeddings = self.encoder.encode_documents(
                [text for _, text in pairs], batch_size=batch_size, convert_to="torch"
            )
        for index, query in enumerate(queries):
            rows = rows_of[query]
            similarity = self.encoder.similarity(query_embeddings[index : index + 1], text_embeddings[rows])
            scores[rows] = similarity.reshape(-1).float().numpy()
        return scores


def scores_as_list(raw: Any, expected: int, scorer: object) -> list[float]:
    """Check a scorer's output (one finite score per pair) and return it as a list of floats.

    Raises:
        IntegrationError: the output has another shape or holds a NaN or infinite score.
    """
    array = np.asarray(raw.detach().cpu() if hasattr(raw, "detach") else raw, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (expected,):
        raise IntegrationError(
            f"{type(scorer).__name__}.predict returned scores of shape {array.shape} for {expected} pairs; "
            "a reranker needs one score per pair (a model with one output label)"
        )
    values: list[float] = array.tolist()
    for index, value in enumerate(values):
        if not math.isfinite(value):
            raise IntegrationError(f"{type(scorer).__name__}.predict returned {value} for the pair at index {index}")
    return values


def is_pair_scorer(value: object) -> bool:
    """Whether ``value`` has a callable ``predict`` (the :class:`PairScorer` protocol)."""
    return isinstance(value, PairScorer) and not isinstance(value, type)


__all__ = ["BiEncoderScorer", "PairScorer", "is_pair_scorer", "scores_as_list"]
