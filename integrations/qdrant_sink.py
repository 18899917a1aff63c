"""The Qdrant ingestor's write target (what the ingest loop, a re-encode and Ray write through), and
opening an embedded store."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from integrations._ingest import HASH_KEY, IngestDocument
from integrations._store_lock import StoreLock
from integrations.learned_sparse import SparseTextEncoder
from integrations.qdrant_points import DENSE_VECTOR_NAME, from_payload, qdrant_modules, sparse_vectors, to_payload
from sbert_plugins.errors import IntegrationError
from sbert_plugins.sparse.rows import SparseVector


def open_embedded(client_class: Any, path: Path, lock: StoreLock) -> Any:
    """An embedded Qdrant client on ``path``; ``lock`` (ours, already held) is released if it fails.

    Raises:
        IntegrationError: another Qdrant client holds the folder.
    """
    try:
        return client_class(path=str(path))
    except RuntimeError as exc:  # qdrant-client's own lock: a client outside sbert-plugins holds the folder
        lock.release()
        if "already accessed" not in str(exc):
            raise
        raise IntegrationError(
            f"the embedded Qdrant store {path} is in use by another Qdrant client; close it first, or use a "
            "Qdrant server (url=) to share the store"
        ) from exc


class QdrantSink:
    """The ingest loop's write target on one Qdrant collection (see :class:`~integrations._pipeline.Sink`).

    Args:
        client: the ``QdrantClient``; every call holds ``lock`` (embedded Qdrant is not thread-safe).
        lock: the lock the ingestor holds around its own calls.
        collection: the collection.
        upload_batch_size: points per upsert.
        sparse: the sparse vectors to write beside the dense one, by vector name.
    """

    def __init__(
        self,
        client: Any,
        lock: threading.Lock,
        collection: str,
        upload_batch_size: int,
        sparse: Mapping[str, SparseTextEncoder],
    ) -> None:
        self.collection = collection
        self.max_batch_size = upload_batch_size
        self._client = client
        self._lock = lock
        self._sparse = dict(sparse)
        self._models = qdrant_modules()[1]

    def existing_hashes(self, point_ids: Sequence[str]) -> dict[str, str | None]:
        with self._lock:
            records = self._client.retrieve(
                self.collection, ids=list(point_ids), with_payload=[HASH_KEY], with_vectors=False
            )
        return {str(r.id): (r.payload or {}).get(HASH_KEY) for r in records}

    def prepare(
        self,
        docs: Sequence[IngestDocument],
        vectors: np.ndarray,
        sparse: Mapping[str, Sequence[SparseVector]] | None = None,
    ) -> Any:
        models = self._models
        dense = np.asarray(vectors, dtype=np.float32).tolist()
        batch_vectors: Any = dense
        if self._sparse or sparse:
            # The sparse vectors not given (Ray's embedding actors compute the learned ones) are encoded here, on
            # the upload thread, so that they overlap the dense encoding of the next batch and a re-encode
            # rewrites them with the dense vectors.
            batch_vectors = {DENSE_VECTOR_NAME: dense, **sparse_vectors(docs, self._sparse, sparse)}
        return models.Batch(
            ids=[d.point_id for d in docs], vectors=batch_vectors, payloads=[to_payload(d) for d in docs]
        )

    def write(self, prepared: Any) -> None:
        with self._lock:
            self._client.upsert(self.collection, points=prepared, wait=True)

    def stored_page(self, cursor: Any) -> tuple[list[IngestDocument], Any]:
        with self._lock:
            records, following = self._client.scroll(
                self.collection, limit=self.max_batch_size, offset=cursor, with_payload=True, with_vectors=False
            )
        return [from_payload(str(r.id), r.payload or {}, self.collection) for r in records], following
