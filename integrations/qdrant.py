"""Ingest a corpus into Qdrant with a Sentence-BERT model, and search it (dense, sparse or hybrid).

The layout is the one ``langchain_qdrant.QdrantVectorStore`` reads: the dense vector is the
default (unnamed, ``""``) vector, the payload holds ``page_content`` and ``metadata``, and the BM25
vector of a hybrid collection is the sparse vector ``langchain-sparse`` (QdrantVectorStore's
default name) with Qdrant's IDF modifier. A learned sparse model (``sparse_model=``, a
``SparseEncoder`` such as SPLADE) writes the sparse vector ``learned-sparse`` without a modifier (the
model's weights are the whole score), instead of or beside the BM25 one. Two more payload keys,
``_doc_id`` and ``_content_hash``, keep the caller's id and let a re-ingest skip unchanged documents.
The names of these vectors and keys, and the conversions of documents to points, are defined in
:mod:`integrations.qdrant_points`; import them from there.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from integrations._base import BaseIngestor, SearchHit, positive_int
from integrations._identity import ModelIdentity, check_readable
from integrations._retry import RetryPolicy, call_with_retry
from integrations._store_lock import StoreLock
from integrations.hybrid import SPARSE_KINDS, SparseKind, check_sparse_weight
from integrations.learned_sparse import LearnedSparseEncoder, SparseTextEncoder
from integrations.qdrant_points import (
    DENSE_VECTOR_NAME,
    DISTANCES,
    LEARNED_SPARSE_VECTOR_NAME,
    SEARCH_MODES,
    SPARSE_VECTOR_NAME,
    Layout,
    SearchMode,
    Side,
    fusion_search,
    qdrant_modules,
    read_layout,
    to_filter,
    to_hit,
)
from integrations.qdrant_sink import QdrantSink, open_embedded
from sbert_plugins.bm25 import BM25Config, BM25Encoder
from sbert_plugins.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder
    from sbert_plugins.sparse import SparseEncoder

__all__ = ["QdrantIngestor"]


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
        sparse_vector_name: the name of the BM25 sparse vector (QdrantVectorStore's default); pass it to
            ``QdrantVectorStore(sparse_vector_name=...)`` with ``SBERTSparseEmbeddings`` to read a
            hybrid collection through LangChain.
        sparse_model: a learned sparse model (a :class:`~sbert_plugins.SparseEncoder`, or its name or
            folder, loaded on first use): its document vectors are stored as the sparse vector
            ``learned_sparse_vector_name``, with no IDF modifier, instead of or beside BM25 (``hybrid``).
            The collection records its name and fingerprint as it records the dense model's, and refuses
            another sparse model the same way (``reencode`` rewrites the sparse vectors too). Default: the
            collection's own, when it has learned sparse vectors: the name recorded at ingest, which is
            what the user named then, is loaded (and must still have the recorded fingerprint).
        learned_sparse_vector_name: the name of the learned sparse vector (for LangChain: pass it as
            ``QdrantVectorStore(sparse_vector_name=...)`` with ``SBERTSparseEmbeddings(model=...)``).
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
        sparse_model: SparseEncoder | str | Path | None = None,
        learned_sparse_vector_name: str = LEARNED_SPARSE_VECTOR_NAME,
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
        self.learned_sparse_vector_name = learned_sparse_vector_name
        if sparse_vector_name == learned_sparse_vector_name:
            raise ConfigError(f"the BM25 and learned sparse vectors need two names, both are {sparse_vector_name!r}")
        self._learned: LearnedSparseEncoder | None = None
        self._sparse_looked_up = False  # whether the collection's record was read for a sparse model
        if sparse_model is not None:
            self._learned = LearnedSparseEncoder(sparse_model, batch_size=encode_batch_size)
        QdrantClient, _ = qdrant_modules()
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
            self.client = open_embedded(QdrantClient, Path(str(path)), self._store_lock)
        # Embedded Qdrant is not thread-safe; a server client is, but one lock costs little here.
        self._lock = threading.Lock()
        self._checked_layout: Layout | None = None  # the collection's sparse vectors, once it was checked
        self._checked_sparse = False  # whether the learned sparse model was checked against the collection

    # ---- collection --------------------------------------------------------------------------

    def vector_settings(self) -> dict[str, Any]:
        """The model's settings (see :class:`~integrations._base.BaseIngestor`) and, for a hybrid
        collection, the BM25 parameters, and the learned sparse model's fingerprint."""
        settings = super().vector_settings()
        if self.hybrid:
            settings["bm25"] = self.bm25.config.model_dump()
        learned = self.learned_sparse
        if learned is not None:
            settings["sparse_fingerprint"] = learned.model.fingerprint
        return settings

    @property
    def learned_sparse(self) -> LearnedSparseEncoder | None:
        """The learned sparse model: ``sparse_model`` as given, else the one the collection records (the name
        given at its ingest), else None. Reads the collection's metadata once when no model was given."""
        if self._learned is None and not self._sparse_looked_up and not (self.recreate and not self._recreated):
            self._sparse_looked_up = True
            recorded = self._recorded_sparse_name()
            if recorded is not None:
                # On the dense model's device: the user named neither, so both follow --device.
                device = str(self.model.device)
                self._learned = LearnedSparseEncoder(recorded, batch_size=self.encode_batch_size, device=device)
        return self._learned

    def _recorded_sparse_name(self) -> str | None:
        if not self._call(lambda: self.client.collection_exists(self.collection), "checking the collection"):
            return None
        info = self._read_collection()
        recorded = ModelIdentity.recorded(info.config.metadata)
        if recorded is None or recorded.sparse is None:
            return None
        if recorded.sparse.name.startswith("<"):
            raise IntegrationError(
                f"collection {self.collection!r} holds learned sparse vectors of a sparse model built in code "
                f"({recorded.sparse}), so it cannot be loaded by name; pass sparse_model= (--sparse-model) with it"
            )
        return recorded.sparse.name

    def model_identity(self) -> ModelIdentity:
        """The dense model's identity, with the learned sparse model's when there is one."""
        learned = self.learned_sparse
        return ModelIdentity.of(self.model, None if learned is None else learned.identity())

    def sparse_encoders(self) -> dict[str, SparseTextEncoder]:
        """The sparse vectors this ingestor writes, by vector name: BM25 (``hybrid``), learned (``sparse_model``)."""
        encoders: dict[str, SparseTextEncoder] = {}
        if self.hybrid:
            encoders[self.sparse_vector_name] = self.bm25
        learned = self.learned_sparse
        if learned is not None:
            encoders[self.learned_sparse_vector_name] = learned
        return encoders

    def _call(self, fn: Any, what: str) -> Any:
        with self._lock:
            return call_with_retry(fn, self.retry, what=f"{what} (collection {self.collection!r})")

    def _expected_distance(self) -> str:
        name = self.model.similarity_fn_name
        if name not in DISTANCES:
            raise ConfigError(f"the model's similarity {name!r} has no Qdrant distance; valid: {sorted(DISTANCES)}")
        return DISTANCES[name]

    def _collection_layout(self, info: Any) -> Layout:
        """The sparse vectors of the existing collection (``info``), after checking it against the model."""
        self._checked_layout = read_layout(
            info,
            self.collection,
            dim=self.model.embedding_dim,
            distance=self._expected_distance(),
            bm25_name=self.sparse_vector_name,
            learned_name=self.learned_sparse_vector_name,
        )
        return self._checked_layout

    def _read_collection(self) -> Any:
        return self._call(lambda: self.client.get_collection(self.collection), "reading the collection")

    def _open_collection(self, identity: ModelIdentity) -> tuple[QdrantSink, Mapping[str, Any] | None]:
        _, models = qdrant_modules()
        exists = self._call(lambda: self.client.collection_exists(self.collection), "checking the collection")
        if exists and self.recreate and not self._recreated:
            self._call(lambda: self.client.delete_collection(self.collection), "deleting the collection")
            exists = False
        self._recreated = True
        stored: Mapping[str, Any] | None = None
        learned = identity.sparse is not None
        if exists:
            info = self._read_collection()
            layout = self._collection_layout(info)
            if layout.bm25 != self.hybrid:
                made = "with" if layout.bm25 else "without"
                raise IntegrationError(
                    f"collection {self.collection!r} was created {made} BM25 sparse vectors but hybrid={self.hybrid}; "
                    f"pass hybrid={layout.bm25}, or recreate=True to rebuild it, or use another collection name"
                )
            if layout.learned != learned:
                raise IntegrationError(
                    f"collection {self.collection!r} was created {'with' if layout.learned else 'without'} learned "
                    f"sparse vectors but {'a' if learned else 'no'} sparse model is given; "
                    f"{'pass sparse_model= (--sparse-model)' if layout.learned else 'drop sparse_model'}, or "
                    "recreate=True to rebuild it, or use another collection name"
                )
            stored = dict(info.config.metadata or {})
        else:
            dense = models.VectorParams(
                size=self.model.embedding_dim, distance=models.Distance(self._expected_distance())
            )
            sparse = {}
            if self.hybrid:
                sparse[self.sparse_vector_name] = models.SparseVectorParams(modifier=models.Modifier.IDF)
            if learned:
                sparse[self.learned_sparse_vector_name] = models.SparseVectorParams()
            self._call(
                lambda: self.client.create_collection(
                    self.collection,
                    vectors_config={DENSE_VECTOR_NAME: dense} if sparse else dense,
                    sparse_vectors_config=sparse or None,
                    metadata=identity.metadata(),
                ),
                "creating the collection",
            )
            self._checked_layout = Layout(bm25=self.hybrid, learned=learned)
        return self.writer(), stored

    def _forget_checks(self) -> None:
        self._checked_layout = None
        self._checked_sparse = False

    def _write_identity(self, metadata: Mapping[str, Any]) -> None:
        self._call(
            lambda: self.client.update_collection(self.collection, metadata=dict(metadata)),
            "recording the model in the collection's metadata",
        )

    def writer(self) -> QdrantSink:
        """A write target on the collection as it is: no creating or checking (for the workers of a job
        whose driver called :meth:`open_for_writing`)."""
        return QdrantSink(self.client, self._lock, self.collection, self.upload_batch_size, self.sparse_encoders())

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
        sparse: SparseKind | None = None,
        sparse_weight: float = 0.5,
    ) -> list[SearchHit]:
        """The ``k`` best documents for ``query``.

        Args:
            query: the query text (encoded with the model's query prompt, if any).
            k: how many results.
            filter: ``{metadata_key: value}`` (a list value matches any element) or a ``models.Filter``.
            mode: ``"dense"``; ``"sparse"``; ``"hybrid"`` (dense and sparse, fused by reciprocal rank fusion,
                in Qdrant); ``"fusion"`` (dense and sparse, fused by the project's fusion rule: see
                :mod:`integrations.hybrid`). Default: hybrid for a collection with sparse vectors, else dense.
            prefetch_k: candidates from each side before fusion (default: ``max(k, 50)``).
            sparse: which sparse vectors: ``"learned"`` (the learned sparse model's) or ``"bm25"``; default:
                learned when the collection has them, else BM25.
            sparse_weight: with ``mode="fusion"``, the sparse side's share (0: dense only, 1: sparse only).

        Returns:
            :class:`SearchHit` objects, best first; ``score`` is the model's similarity (dense), the sparse
            dot product (sparse), the RRF score (hybrid) or the fused score (fusion).

        Raises:
            ConfigError: an unknown mode or sparse kind, or a mode that needs sparse vectors the collection lacks.
            IntegrationError: the collection is missing or does not fit the model.
        """
        positive_int("k", k)
        weight = check_sparse_weight(sparse_weight)
        _, models = qdrant_modules()
        layout = self._layout_for_search()
        if sparse is not None and sparse not in SPARSE_KINDS:
            raise ConfigError(f"sparse must be one of {SPARSE_KINDS}, found {sparse!r}")
        kind: SparseKind = sparse or ("learned" if layout.learned else "bm25")
        mode = mode or ("hybrid" if layout.bm25 or layout.learned else "dense")
        if mode not in SEARCH_MODES:
            raise ConfigError(f"mode must be one of {SEARCH_MODES}, found {mode!r}")
        query_filter = to_filter(filter)
        sparse_query, using = self._sparse_query(query, kind, layout) if mode != "dense" else (None, "")
        dense_query = self._encode_query(query).tolist() if mode != "sparse" else None
        depth = max(k, 50) if prefetch_k is None else positive_int("prefetch_k", prefetch_k)
        if mode == "fusion":
            dense = Side(dense_query, DENSE_VECTOR_NAME, self._dense_sign())
            return fusion_search(
                self._scored, dense, Side(sparse_query, using), query_filter, k=k, depth=depth, weight=weight
            )
        options: dict[str, Any] = {"limit": k, "with_payload": True, "with_vectors": False}
        if mode == "hybrid":
            options["prefetch"] = [
                models.Prefetch(query=dense_query, using=DENSE_VECTOR_NAME, filter=query_filter, limit=depth),
                models.Prefetch(query=sparse_query, using=using, filter=query_filter, limit=depth),
            ]
            options["query"] = models.FusionQuery(fusion=models.Fusion.RRF)
        else:
            options["query"] = dense_query if mode == "dense" else sparse_query
            options["using"] = DENSE_VECTOR_NAME if mode == "dense" else using
            options["query_filter"] = query_filter
        points = self._call(lambda: self.client.query_points(self.collection, **options).points, "searching")
        sign = self._dense_sign() if mode == "dense" else 1.0
        return [to_hit(p, sign * float(p.score)) for p in points]

    def _layout_for_search(self) -> Layout:
        layout = self._checked_layout
        if layout is None:  # checked once per ingestor; an ingest checks again
            if not self._call(lambda: self.client.collection_exists(self.collection), "checking the collection"):
                raise IntegrationError(f"collection {self.collection!r} does not exist; ingest documents into it first")
            info = self._read_collection()
            layout = self._collection_layout(info)
            check_readable(self.collection, info.config.metadata, ModelIdentity.of(self.model))
            self._checked_sparse = False
        return layout

    def _sparse_query(self, query: str, kind: SparseKind, layout: Layout) -> tuple[Any, str]:
        """The query's sparse vector of ``kind`` and the vector name it searches."""
        _, models = qdrant_modules()
        if kind == "bm25":
            if not layout.bm25:
                raise ConfigError("BM25 search needs BM25 vectors; ingest with hybrid=True (and recreate=True)")
            encoder: SparseTextEncoder = self.bm25
            using = self.sparse_vector_name
        else:
            learned = self.learned_sparse
            if not layout.learned or learned is None:
                raise ConfigError(
                    "learned sparse search needs learned sparse vectors; ingest with sparse_model= (--sparse-model)"
                )
            if not self._checked_sparse:  # the given (or recorded) sparse model must be the one that wrote them
                info = self._read_collection()
                check_readable(self.collection, info.config.metadata, self.model_identity())
                self._checked_sparse = True
            encoder, using = learned, self.learned_sparse_vector_name
        vector = encoder.encode_query(query)
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values)), using

    def _dense_sign(self) -> float:
        # Qdrant reports euclidean/manhattan distances (lower is better): negate so higher is better.
        return -1.0 if self._expected_distance() in ("Euclid", "Manhattan") else 1.0

    def _scored(self, vector: Any, using: str, query_filter: Any, limit: int) -> list[Any]:
        options = {"query": vector, "using": using, "query_filter": query_filter, "limit": limit, "with_payload": True}
        return list(self._call(lambda: self.client.query_points(self.collection, **options).points, "searching"))

    def close(self) -> None:
        """Close the client if the ingestor opened it (embedded mode unlocks its folder)."""
        if self._owns_client:
            self.client.close()
        if self._store_lock is not None:
            self._store_lock.release()
