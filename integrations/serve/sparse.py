"""``POST /embed_sparse``: learned sparse vectors (a ``SparseEncoder``, e.g. SPLADE) over HTTP, in the shape
of Hugging Face TEI's ``/embed_sparse``.

Request: ``{"inputs": "text" | ["text", ...], "input_type": "document" (default) | "query", "model": ...}``
(``model`` optional; when given it must name the served sparse model). Response: one list per input, in
input order, of ``{"index": token id, "value": weight}`` objects, token ids ascending:
``[[{"index": 2054, "value": 1.31}, ...], ...]``. Errors, limits and statuses are those of
:mod:`integrations.serve.protocol`; without a sparse model the endpoint answers 404.

Texts of concurrent requests go through the server's :class:`~integrations.microbatch.MicroBatcher`
(one batch per side, as ``/v1/embeddings``), and the encoder's own token-budget batching.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from integrations.learned_sparse import LearnedSparseEncoder
from integrations.microbatch import MicroBatcher
from integrations.serve.engine import BatchObserver, Kind
from integrations.serve.protocol import ApiError, check_model, parse_texts
from integrations.serve.settings import ServeSettings
from sbert_plugins.sparse.rows import SparseVector


@dataclass(frozen=True)
class SparseCall:
    """A checked ``POST /embed_sparse`` request."""

    model: str
    texts: list[str]
    kind: Kind


def parse_sparse_request(payload: Mapping[str, Any], *, model_id: str | None, settings: ServeSettings) -> SparseCall:
    """Check a sparse embedding request (the module docstring's schema).

    Raises:
        ApiError: 404 when no sparse model is served or ``model`` names another; 400 and 413 as for
            ``/v1/embeddings``, naming the field at fault.
    """
    if model_id is None:
        raise ApiError(
            404,
            "no sparse model is served here; start the server with --sparse-model PATH to use /embed_sparse",
            code="model_not_found",
        )
    model = check_model(payload, model_id)
    texts = parse_texts(payload.get("inputs"), "inputs", settings)
    kind = payload.get("input_type") or "document"
    if kind not in ("query", "document"):
        raise ApiError(400, f"input_type must be 'query' or 'document', found {kind!r}", param="input_type")
    return SparseCall(model, texts, cast(Kind, kind))


def sparse_response(vectors: Sequence[SparseVector]) -> bytes:
    """``[[{"index": i, "value": v}, ...], ...]``: one list per input, token ids ascending."""
    rows = [
        [{"index": int(i), "value": float(v)} for i, v in zip(vector.indices, vector.values, strict=True)]
        for vector in vectors
    ]
    return orjson.dumps(rows)


class SparseEngine:
    """Encodes the texts of many concurrent ``/embed_sparse`` requests with one sparse model.

    Args:
        encoder: the learned sparse model (serialised with any other adapter sharing it).
        batcher: the server's batcher (its queue bounds apply to these texts too).
        observer: told the size and duration of each encoded batch (kinds ``sparse-query``, ``sparse-document``).
    """

    def __init__(self, encoder: LearnedSparseEncoder, batcher: MicroBatcher, observer: BatchObserver | None) -> None:
        self.encoder = encoder
        self.batcher = batcher
        self.observer = observer

    async def embed(self, texts: list[str], kind: Kind) -> list[SparseVector]:
        """The sparse vectors of ``texts`` (at least one) as queries or documents, batched with other requests'.

        Raises:
            QueueFullError: the queue is full (nothing was queued).
        """
        encode = self._encode_queries if kind == "query" else self._encode_documents
        return list(await self.batcher.submit(("embed_sparse", kind), texts, encode))

    def _encode_queries(self, texts: list[str]) -> list[SparseVector]:
        return self._encode("query", texts)

    def _encode_documents(self, texts: list[str]) -> list[SparseVector]:
        return self._encode("document", texts)

    def _encode(self, kind: Kind, texts: list[str]) -> list[SparseVector]:
        start = time.perf_counter()
        encode = self.encoder.encode_queries if kind == "query" else self.encoder.encode_documents
        vectors = encode(texts)
        if self.observer is not None:
            self.observer.observe_batch(f"sparse-{kind}", len(texts), None, time.perf_counter() - start)
        return vectors
