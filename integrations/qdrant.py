"""Ingest a corpus into Qdrant with a Sentence-BERT model, and search it (dense, BM25 or hybrid).

The layout is the one ``langchain_qdrant.QdrantVectorStore`` reads: the dense vector is the
default (unnamed, ``""``) vector, the payload holds ``page_content`` and ``metadata``, and the BM25
vector of a hybrid collection is the sparse vector ``langchain-sparse`` (QdrantVectorStore's
default name) with Qdrant's IDF modifier. Two more payload keys, ``_doc_id`` and ``_content_hash``,
keep the caller's id and let a re-ingest skip unchanged documents.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import SecretStr

from integrations._base import BaseIngestor, SearchHit, positive_int
from integrations._identity import ModelIdentity, check_readable
from integrations._ingest import DOC_ID_KEY, HASH_KEY, IngestDocument
from integrations._retry import RetryPolicy, call_with_retry
from integrations._store_lock import StoreLock
from integrations.bm25 import BM25Config, BM25Encoder
from sbert_plugins.errors import ConfigError, IntegrationError, missing_dependency

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

CONTENT_KEY = "page_content"
METADATA_KEY = "metadata"
DENSE_VECTOR_NAME = ""
SPARSE_VECTOR_NAME = "langchain-sparse"
# Model similarity function -> Qdrant distance name (models.Distance values).
DISTANCES = {"cosine": "Cosine", "dot": "Dot", "euclidean": "Euclid", "manhattan": "Manhattan"}
SearchMode = Literal["dense", "sparse", "hybrid"]


def _qdrant() -> Any:
    try:
        from qdrant_client import QdrantClient, models
    except ImportError as exc:
        raise missing_dependency("qdrant-client", "qdrant") from exc
    return QdrantClient, models


def to_payload(doc: IngestDocument) -> dict[str, Any]:
    """The stored payload of a document (what QdrantVectorStore reads, plus id and hash)."""
    return {CONTENT_KEY: doc.text, METADATA_KEY: doc.metadata, DOC_ID_KEY: doc.doc_id, HASH_KEY: doc.content_hash}


def from_payload(point: str, payload: Mapping[str, Any], collection: str) -> IngestDocument:
    """The document a stored point holds (the inverse of :func:`to_payload`; any point LangChain wrote too).

    Raises:
        IntegrationError: the point has no text to encode.
    """
    text = payload.get(CONTENT_KEY)
    if not isinstance(text, str) or not text.strip():
        raise IntegrationError(
            f"point {point} of collection {collection!r} has no {CONTENT_KEY!r} text, so it cannot be re-encoded; "
            "pass recreate=True (--recreate) to rebuild the collection from the corpus"
        )
    doc_id = payload.get(DOC_ID_KEY)
    metadata = payload.get(METADATA_KEY)
    return IngestDocument(
        text,
        dict(metadata) if isinstance(metadata, Mapping) else {},
        None if doc_id is None else str(doc_id),
        point,
        str(payload.get(HASH_KEY) or ""),
    )


def to_filter(filter: Any) -> Any:
    """A Qdrant filter: a ``models.Filter`` as is, or ``{key: value}`` matching ``metadata.key``.

    A list value matches any of its elements. None means no filter.
    """
    _, models = _qdrant()
    if filter is None or isinstance(filter, models.Filter):
        return filter
    if not isinstance(filter, Mapping):
        raise ConfigError(f"filter must be a dict {{key: value}} or a qdrant Filter, found {type(filter).__name__}")
    conditions = []
    for key, value in filter.items():
        match = models.MatchAny(any=list(value)) if isinstance(value, (list, tuple)) else models.MatchValue(value=value)
        conditions.append(models.FieldCondition(key=f"{METADATA_KEY}.{key}", match=match))
    return models.Filter(must=conditions)


def _open_embedded(client_class: Any, path: Path, lock: StoreLock) -> Any:
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


class _QdrantSink:
    def __init__(self, ingestor: QdrantIngestor, hybrid: bool) -> None:
        self.collection = ingestor.collection
        self.max_batch_size = ingestor.upload_batch_size
        self._ingestor = ingestor
        self._hybrid = hybrid
        self._models = _qdrant()[1]

    def existing_hashes(self, point_ids: Sequence[str]) -> dict[str, str | None]:
        with self._ingestor._lock:
            records = self._ingestor.client.retrieve(
                self.collection, ids=list(point_ids), with_payload=[HASH_KEY], with_vectors=False
            )
        return {str(r.id): (r.payload or {}).get(HASH_KEY) for r in records}

    def prepare(self, docs: Sequence[IngestDocument], vectors: np.ndarray) -> Any:
        models = self._models
        dense = np.asarray(vectors, dtype=np.float32).tolist()
        batch_vectors: Any = dense
        if self._hybrid:
            sparse = self._ingestor.bm25.encode_documents([d.text for d in docs])
            batch_vectors = {
                DENSE_VECTOR_NAME: dense,
                self._ingestor.sparse_vector_name: [
                    models.SparseVector(indices=s.indices, values=s.values) for s in sparse
                ],
            }
        return models.Batch(
            ids=[d.point_id for d in docs], vectors=batch_vectors, payloads=[to_payload(d) for d in docs]
        )

    def write(self, prepared: Any) -> None:
        with self._ingestor._lock:
            self._ingestor.client.upsert(self.collection, points=prepared, wait=True)

    def stored_page(self, cursor: Any) -> tuple[list[IngestDocument], Any]:
        with self._ingestor._lock:
            records, following = self._ingestor.client.scroll(
                self.collection, limit=self.max_batch_size, offset=cursor, with_payload=True, with_vectors=False
            )
        return [from_payload(str(r.id), r.payload or {}, self.collection) for r in records], following


class QdrantIngestor(BaseIngestor):
    """Writes documents to a Qdrant collection and searches it.

    Args:
        model: a :class:`SentenceEncoder`, or a model name or folder (loaded on first use).
        collection: the collection; created from the model's dimension and similarity when absent.
        path: embedded (local) mode: a folder, no server needed; ``":memory:"`` for a throwaway store.
        url: a Qdrant server, e.g. ``http://localhost:6333``; with ``api_key`` (a str or ``SecretStr``) and
            ``prefer_grpc``.
        client: a ``QdrantClient`` of your own (instead of ``path``/``url``).
        timeout: seconds per server request.
        hybrid: also store a BM25 sparse vector per document, for :meth:`search` ``mode="hybrid"``.
        bm25: BM25 parameters for hybrid collections.
        sparse_vector_name: the name of the sparse vector (QdrantVectorStore's default); pass it to
            ``QdrantVectorStore(sparse_vector_name=...)`` with ``SBERTSparseEmbeddings`` to read a
            hybrid collection through LangChain.
        upload_batch_size: points per upsert request.
        batch_size, encode_batch_size, recreate, reencode, retry: see
            :class:`~integrations._base.BaseIngestor`.

    The collection's metadata records the model's name and fingerprint.

    Raises:
        ConfigError: not exactly one of ``path``, ``url``, ``client``; an invalid setting.
        MissingDependencyError: ``qdrant-client`` is not installed.
    """

    def __init__(
        self,
        model: SentenceEncoder | str | Path | None,
        collection: str,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        api_key: str | SecretStr | None = None,
        prefer_grpc: bool = False,
        client: Any = None,
        timeout: int | None = None,
        hybrid: bool = False,
        recreate: bool = False,
        bm25: BM25Config | None = None,
        sparse_vector_name: str = SPARSE_VECTOR_NAME,
        reencode: bool = False,
        batch_size: int = 256,
        upload_batch_size: int = 256,
        encode_batch_size: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            model,
            collection,
            batch_size=batch_size,
            encode_batch_size=encode_batch_size,
            recreate=recreate,
            reencode=reencode,
            retry=retry,
        )
        if sum(x is not None for x in (path, url, client)) != 1:
            raise ConfigError("pass exactly one of path= (embedded Qdrant), url= (a server) or client=")
        if api_key is not None and url is None:
            raise ConfigError("api_key is for a server: pass it with url=")
        self.upload_batch_size = positive_int("upload_batch_size", upload_batch_size)
        self.hybrid = bool(hybrid)
        self.bm25 = BM25Encoder(bm25)
        self.sparse_vector_name = sparse_vector_name
        QdrantClient, _ = _qdrant()
        self._owns_client = client is None
        self._store_lock: StoreLock | None = None
        if client is not None:
            self.client = client
        elif url is not None:
            key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
            self.client = QdrantClient(url=url, api_key=key, prefer_grpc=prefer_grpc, timeout=timeout)
        elif str(path) == ":memory:":
            self.client = QdrantClient(location=":memory:")
        else:
            self._store_lock = StoreLock(Path(str(path)), "Qdrant")
            self.client = _open_embedded(QdrantClient, Path(str(path)), self._store_lock)
        # Embedded Qdrant is not thread-safe; a server client is, but one lock costs little here.
        self._lock = threading.Lock()
        self._checked_layout: bool | None = None  # has BM25 vectors, once the collection was checked

    # ---- collection --------------------------------------------------------------------------

    def vector_settings(self) -> dict[str, Any]:
        """The model's settings (see :class:`~integrations._base.BaseIngestor`) and, for a hybrid
        collection, the BM25 parameters."""
        settings = super().vector_settings()
        if self.hybrid:
            settings["bm25"] = self.bm25.config.model_dump()
        return settings

    def _call(self, fn: Any, what: str) -> Any:
        with self._lock:
            return call_with_retry(fn, self.retry, what=f"{what} (collection {self.collection!r})")

    def _expected_distance(self) -> str:
        name = self.model.similarity_fn_name
        if name not in DISTANCES:
            raise ConfigError(f"the model's similarity {name!r} has no Qdrant distance; valid: {sorted(DISTANCES)}")
        return DISTANCES[name]

    def _collection_layout(self, info: Any) -> bool:
        """Whether the existing collection (``info``) has BM25 vectors, after checking it against the model."""
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE_VECTOR_NAME) if isinstance(vectors, Mapping) else vectors
        fix = "pass recreate=True (it deletes the collection) or use another collection name"
        if dense is None:
            named = sorted(vectors) if isinstance(vectors, Mapping) else []
            raise IntegrationError(
                f"collection {self.collection!r} has no default (unnamed) dense vector, only {named}; {fix}"
            )
        dim, distance = self.model.embedding_dim, self._expected_distance()
        stored_distance = getattr(dense.distance, "value", dense.distance)
        if dense.size != dim or stored_distance != distance:
            raise IntegrationError(
                f"collection {self.collection!r} holds {dense.size}-dimensional vectors with {stored_distance} "
                f"distance, but the model gives {dim}-dimensional vectors compared by {distance}; {fix}"
            )
        sparse = (info.config.params.sparse_vectors or {}).get(self.sparse_vector_name)
        if sparse is not None and getattr(sparse.modifier, "value", sparse.modifier) != "idf":
            raise IntegrationError(
                f"collection {self.collection!r} has a sparse vector {self.sparse_vector_name!r} without the IDF "
                f"modifier, so BM25 scores would be wrong; {fix}"
            )
        self._checked_layout = sparse is not None
        return self._checked_layout

    def _read_collection(self) -> Any:
        return self._call(lambda: self.client.get_collection(self.collection), "reading the collection")

    def _open_collection(self, identity: ModelIdentity) -> tuple[_QdrantSink, Mapping[str, Any] | None]:
        _, models = _qdrant()
        exists = self._call(lambda: self.client.collection_exists(self.collection), "checking the collection")
        if exists and self.recreate and not self._recreated:
            self._call(lambda: self.client.delete_collection(self.collection), "deleting the collection")
            exists = False
        self._recreated = True
        stored: Mapping[str, Any] | None = None
        if exists:
            info = self._read_collection()
            has_sparse = self._collection_layout(info)
            if has_sparse != self.hybrid:
                made = "with" if has_sparse else "without"
                raise IntegrationError(
                    f"collection {self.collection!r} was created {made} BM25 sparse vectors but hybrid={self.hybrid}; "
                    f"pass hybrid={has_sparse}, or recreate=True to rebuild it, or use another collection name"
                )
            stored = dict(info.config.metadata or {})
        else:
            dense = models.VectorParams(
                size=self.model.embedding_dim, distance=models.Distance(self._expected_distance())
            )
            sparse = {self.sparse_vector_name: models.SparseVectorParams(modifier=models.Modifier.IDF)}
            self._call(
                lambda: self.client.create_collection(
                    self.collection,
                    vectors_config={DENSE_VECTOR_NAME: dense} if self.hybrid else dense,
                    sparse_vectors_config=sparse if self.hybrid else None,
                    metadata=identity.metadata(),
                ),
                "creating the collection",
            )
            self._checked_layout = self.hybrid
        return self.writer(), stored

    def _forget_checks(self) -> None:
        self._checked_layout = None

    def _write_identity(self, metadata: Mapping[str, Any]) -> None:
        self._call(
            lambda: self.client.update_collection(self.collection, metadata=dict(metadata)),
            "recording the model in the collection's metadata",
        )

    def writer(self) -> _QdrantSink:
        """A write target on the collection as it is: no creating or checking (for the workers of a job
        whose driver called :meth:`open_for_writing`)."""
        return _QdrantSink(self, self.hybrid)

    # ---- reading -----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of points in the collection."""
        return int(self._call(lambda: self.client.count(self.collection, exact=True), "counting").count)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filter: Any = None,
        mode: SearchMode | None = None,
        prefetch_k: int | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best documents for ``query``.

        Args:
            query: the query text (encoded with the model's query prompt, if any).
            k: how many results.
            filter: ``{metadata_key: value}`` (a list value matches any element) or a ``models.Filter``.
            mode: ``"dense"``, ``"sparse"`` (BM25) or ``"hybrid"`` (both, fused by reciprocal rank
                fusion); default: hybrid for a collection with BM25 vectors, else dense.
            prefetch_k: candidates from each side before fusion (default: ``max(k, 50)``).

        Returns:
            :class:`SearchHit` objects, best first.

        Raises:
            IntegrationError: the collection is missing or does not fit the model.
        """
        positive_int("k", k)
        _, models = _qdrant()
        has_sparse = self._checked_layout
        if has_sparse is None:  # checked once per ingestor; an ingest checks again
            if not self._call(lambda: self.client.collection_exists(self.collection), "checking the collection"):
                raise IntegrationError(f"collection {self.collection!r} does not exist; ingest documents into it first")
            info = self._read_collection()
            has_sparse = self._collection_layout(info)
            check_readable(self.collection, info.config.metadata, ModelIdentity.of(self.model))
        mode = mode or ("hybrid" if has_sparse else "dense")
        if mode not in ("dense", "sparse", "hybrid"):
            raise ConfigError(f"mode must be 'dense', 'sparse' or 'hybrid', found {mode!r}")
        if mode != "dense" and not has_sparse:
            raise ConfigError(f"mode={mode!r} needs BM25 vectors; ingest with hybrid=True (and recreate=True)")
        query_filter = to_filter(filter)
        sparse_query = None
        if mode != "dense":
            bm25 = self.bm25.encode_query(query)
            sparse_query = models.SparseVector(indices=bm25.indices, values=bm25.values)
        dense_query = self._encode_query(query).tolist() if mode != "sparse" else None
        options: dict[str, Any] = {"limit": k, "with_payload": True, "with_vectors": False}
        if mode == "hybrid":
            depth = max(k, 50) if prefetch_k is None else positive_int("prefetch_k", prefetch_k)
            options["prefetch"] = [
                models.Prefetch(query=dense_query, using=DENSE_VECTOR_NAME, filter=query_filter, limit=depth),
                models.Prefetch(query=sparse_query, using=self.sparse_vector_name, filter=query_filter, limit=depth),
            ]
            options["query"] = models.FusionQuery(fusion=models.Fusion.RRF)
        else:
            options["query"] = dense_query if mode == "dense" else sparse_query
            options["using"] = DENSE_VECTOR_NAME if mode == "dense" else self.sparse_vector_name
            options["query_filter"] = query_filter
        points = self._call(lambda: self.client.query_points(self.collection, **options).points, "searching")
        # Qdrant reports euclidean/manhattan distances (lower is better): negate so higher is better.
        sign = -1.0 if mode == "dense" and self._expected_distance() in ("Euclid", "Manhattan") else 1.0
        return [self._hit(p, sign * float(p.score)) for p in points]

    @staticmethod
    def _hit(point: Any, score: float) -> SearchHit:
        payload = point.payload or {}
        doc_id = payload.get(DOC_ID_KEY)
        return SearchHit(
            id=str(doc_id if doc_id is not None else point.id),
            text=payload.get(CONTENT_KEY, ""),
            metadata=dict(payload.get(METADATA_KEY) or {}),
            score=score,
        )

    def close(self) -> None:
        """Close the client if the ingestor opened it (embedded mode unlocks its folder)."""
        if self._owns_client:
            self.client.close()
        if self._store_lock is not None:
            self._store_lock.release()
