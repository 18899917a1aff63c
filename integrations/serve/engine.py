"""The server's encoding engine (vendor-free): one encoder shared by every request, texts of concurrent
requests gathered into shared ``encode_queries`` / ``encode_documents`` calls by a
:class:`~integrations.microbatch.MicroBatcher`, run in a worker thread."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from integrations._encoder_lock import encoder_lock
from integrations.microbatch import MicroBatcher
from sbert_plugins import SentenceEncoder

Kind = Literal["query", "document"]


class BatchObserver(Protocol):
    """Told about every batch the engine encodes (the server's metrics)."""

    def observe_batch(self, kind: str, texts: int, tokens: int | None, seconds: float) -> None:
        """One batch of ``texts`` texts (or pairs) of ``kind``, ``tokens`` tokens when known, took ``seconds``."""


@dataclass(frozen=True)
class Embedded:
    """Embeddings of one request's texts.

    Attributes:
        vectors: float32, shape ``(len(texts), embedding_dim)``, in the order of the texts.
        token_counts: tokens the model read per text (special tokens included, truncated at
            ``max_seq_length``, the prompt not counted).
    """

    vectors: np.ndarray
    token_counts: list[int]


class EmbeddingEngine:
    """Embeds the texts of many concurrent requests with one :class:`SentenceEncoder`.

    Args:
        encoder: the model; used for inference only, serialised through
            :func:`~integrations.microbatch.encoder_lock` with any other adapter sharing it.
        batcher: gathers the texts of requests waiting at the same time; its bounds are the server's
            queue and batch limits.
        observer: told the size (texts and tokens) and duration of each encoded batch.
        max_tokens_per_batch: the token budget of one forward pass (default: the encoder's).
    """

    def __init__(
        self,
        encoder: SentenceEncoder,
        batcher: MicroBatcher,
        observer: BatchObserver | None = None,
        *,
        max_tokens_per_batch: int | None = None,
    ) -> None:
        self.encoder = encoder
        self.batcher = batcher
        self.observer = observer
        self.max_tokens_per_batch = max_tokens_per_batch

    async def embed(self, texts: list[str], kind: Kind) -> Embedded:
        """Embed ``texts`` (at least one) as queries or documents (the model's saved prompts), batched
        with the texts of other requests.

        Raises:
            QueueFullError: the queue is full (nothing was queued).
        """
        encode = self._encode_queries if kind == "query" else self._encode_documents
        rows = await self.batcher.submit(("embed", kind), texts, encode)
        return Embedded(vectors=np.stack([vector for vector, _ in rows]), token_counts=[count for _, count in rows])

    def _encode_queries(self, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        return self._encode("query", texts)

    def _encode_documents(self, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        return self._encode("document", texts)

    def _encode(self, kind: Kind, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        start = time.perf_counter()
        encoder = self.encoder
        with encoder_lock(encoder):
            counts = [len(ids) for ids in encoder.transformer.token_ids(texts)]
            encode = encoder.encode_queries if kind == "query" else encoder.encode_documents
            vectors = encode(texts, show_progress=False, max_tokens_per_batch=self.max_tokens_per_batch)
        if self.observer is not None:
            self.observer.observe_batch(kind, len(texts), sum(counts), time.perf_counter() - start)
        return list(zip(vectors, counts, strict=True))
