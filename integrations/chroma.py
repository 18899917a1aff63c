"""Ingest a corpus into Chroma with a Sentence-BERT model, and search it.

The layout is the one ``langchain_chroma.Chroma`` reads: record ids are the uuid5 point ids, the
documents hold the text, the metadata is the document's flat metadata plus ``_doc_id`` (the
caller's id) and ``_content_hash`` (what lets a re-ingest skip unchanged documents). The collection's
``hnsw`` space comes from the model's similarity function; its metadata records the dimension.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from integrations._base import BaseIngestor, SearchHit, positive_int
from integrations._identity import ModelIdentity, check_readable
from integrations._ingest import DOC_ID_KEY, HASH_KEY, RESERVED_KEYS, IngestDocument, MetadataCheck
from integrations._retry import RetryPolicy, call_with_retry, is_transient
from integrations._store_lock import StoreLock
from sbert_plugins.errors import ConfigError, IntegrationError, missing_dependency

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder
    from sbert_plugins.sparse.rows import SparseVector

# Model similarity function -> Chroma hnsw space.
SPACES = {"cosine": "cosine", "dot": "ip", "euclidean": "l2"}
DIMENSION_KEY = "sbert_plugins_dimension"
SIMILARITY_KEY = "sbert_plugins_similarity"
_SCALARS = (str, int, float, bool)


def _chromadb() -> Any:
    try:
        import chromadb
    except ImportError as exc:
        raise missing_dependency("chromadb", "chroma") from exc
    return chromadb


def _http_client(chromadb: Any, **kwargs: Any) -> Any:
    """``chromadb.HttpClient(**kwargs)``, with an unreachable server raised as a ``ConnectionError`` (retried).

    chromadb reports a refused connection as a ``ValueError`` raised while handling the transport error.
    """
    try:
        return chromadb.HttpClient(**kwargs)
    except ValueError as exc:
        if exc.__context__ is not None and is_transient(exc.__context__):
            raise ConnectionError(str(exc)) from exc.__context__
        raise


def flat_metadata_problem(metadata: Mapping[str, Any]) -> str | None:
    """Why Chroma cannot store ``metadata`` (nested values, None, mixed or empty lists), or None."""
    for key, value in metadata.items():
        if isinstance(value, _SCALARS):
            continue
        if isinstance(value, list) and value:
            kinds = {bool if isinstance(v, bool) else type(v) for v in value}
            if len(kinds) == 1 and kinds <= set(_SCALARS):
                continue
        return (
            f"metadata {key!r} is {type(value).__name__} {value!r:.60}; Chroma stores only str, int, float, bool "
            f"or a non-empty list of one of them (flatten it, e.g. '{key}.field', or drop it)"
        )
    return None


def to_record(doc: IngestDocument) -> dict[str, Any]:
    """The stored metadata of a document: its own plus id and content hash."""
    metadata = {**doc.metadata, HASH_KEY: doc.content_hash}
    if doc.doc_id is not None:
        metadata[DOC_ID_KEY] = doc.doc_id
    return metadata


def to_where(filter: Any) -> dict[str, Any] | None:
    """A Chroma ``where``: ``{key: value}`` pairs (a list value matches any element) joined by ``$and``.

    A dict whose keys start with ``$`` is passed on as Chroma syntax.
    """
    if filter is None:
        return None
    if not isinstance(filter, Mapping) or not filter:
        raise ConfigError(f"filter must be a non-empty dict {{key: value}}, found {filter!r}")
    if any(str(key).startswith("$") for key in filter):
        return dict(filter)
    terms = [{k: {"$in": list(v)} if isinstance(v, (list, tuple)) else v} for k, v in filter.items()]
    return terms[0] if len(terms) == 1 else {"$and": terms}


def distance_to_score(distance: float, space: str) -> float:
    """Chroma distance -> the model's similarity (cosine, dot) or minus the euclidean distance."""
    if space == "l2":  # Chroma's l2 is the squared distance
        return -math.sqrt(max(distance, 0.0))
    return 1.0 - distance


def from_record(
    record_id: str, text: str | None, metadata: Mapping[str, Any] | None, collection: str
) -> IngestDocument:
    """The document a stored record holds (the inverse of :func:`to_record`; any record LangChain wrote too).

    Raises:
        IntegrationError: the record has no text to encode.
    """
    if not isinstance(text, str) or not text.strip():
        raise IntegrationError(
            f"record {record_id} of collection {collection!r} has no document text, so it cannot be re-encoded; "
            "pass recreate=True (--recreate) to rebuild the collection from the corpus"
        )
    own = {k: v for k, v in (metadata or {}).items() if k not in RESERVED_KEYS}
    doc_id = (metadata or {}).get(DOC_ID_KEY)
    content = str((metadata or {}).get(HASH_KEY) or "")
    return IngestDocument(text, own, None if doc_id is None else str(doc_id), record_id, content)


class _ChromaSink:
    def __init__(self, ingestor: ChromaIngestor, collection: Any, max_batch_size: int) -> None:
        self.collection = ingestor.collection
        self.max_batch_size = max_batch_size
        self._store = collection
        self._lock = ingestor._lock

    def existing_hashes(self, point_ids: Sequence[str]) -> dict[str, str | None]:
        with self._lock:
            found = self._store.get(ids=list(point_ids), include=["metadatas"])
        return {i: (m or {}).get(HASH_KEY) for i, m in zip(found["ids"], found["metadatas"] or [], strict=True)}

    def prepare(
        self,
        docs: Sequence[IngestDocument],
        vectors: np.ndarray,
        sparse: Mapping[str, Sequence[SparseVector]] | None = None,
    ) -> Any:
        if sparse:
            raise IntegrationError(
                f"sparse vectors {sorted(sparse)} were computed for Chroma collection {self.collection!r}: Chroma "
                "stores no sparse vectors (learned sparse vectors are available with Qdrant only)"
            )
        return {
            "ids": [d.point_id for d in docs],
            "embeddings": np.asarray(vectors, dtype=np.float32),
            "documents": [d.text for d in docs],
            "metadatas": [to_record(d) for d in docs],
        }

    def write(self, prepared: Any) -> None:
        with self._lock:
            self._store.upsert(**prepared)

    def stored_page(self, cursor: Any) -> tuple[list[IngestDocument], Any]:
        # The cursor is the list of ids still to read, taken once: pages by offset could shift under upserts.
        if cursor is None:
            with self._lock:
                cursor = list(self._store.get(include=[])["ids"])
        page, rest = cursor[: self.max_batch_size], cursor[self.max_batch_size :]
        if not page:
            return [], None
        with self._lock:
            found = self._store.get(ids=page, include=["documents", "metadatas"])
        docs = [
            from_record(i, text, metadata, self.collection)
            for i, text, metadata in zip(found["ids"], found["documents"], found["metadatas"], strict=True)
        ]
        return docs, rest or None


class ChromaIngestor(BaseIngestor):
    """Writes documents to a Chroma collection and searches it.

    Args:
        model: a :class:`SentenceEncoder`, or a model name or folder (loaded on first use).
        collection: the collection (3-512 characters of ``[a-zA-Z0-9._-]``); created when absent.
        path: embedded mode (``PersistentClient``): a folder, no server needed.
        url: a Chroma server, ``http://HOST:PORT`` (or ``https://``), with optional ``headers``.
        client: a Chroma client of your own (instead of ``path``/``url``).
        upload_batch_size: records per upsert; capped at the server's ``max_batch_size``.
        batch_size, encode_batch_size, recreate, reencode, retry: see
            :class:`~integrations._base.BaseIngestor`.

    The collection's metadata records the model's name and fingerprint.

    Raises:
        ConfigError: not exactly one of ``path``, ``url``, ``client``; a malformed URL.
        IntegrationError: the server cannot be reached (after retries).
        MissingDependencyError: ``chromadb`` is not installed.
    """

    def __init__(
        self,
        model: SentenceEncoder | str | Path | None,
        collection: str,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        client: Any = None,
        recreate: bool = False,
        reencode: bool = False,
        batch_size: int = 256,
        upload_batch_size: int | None = None,
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
            raise ConfigError("pass exactly one of path= (embedded Chroma), url= (a server) or client=")
        self.upload_batch_size = (
            None if upload_batch_size is None else positive_int("upload_batch_size", upload_batch_size)
        )
        self._checked: tuple[Any, str] | None = None  # (collection, space) once checked for searching
        self._lock = threading.Lock()
        chromadb = _chromadb()
        settings = chromadb.config.Settings(anonymized_telemetry=False)
        self._owns_client = client is None
        self._store_lock: StoreLock | None = None
        if client is not None:
            self.client = client
        elif url is not None:
            parts = urlparse(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"url must look like http://HOST:PORT, found {url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 8000)
            self.client = self._call(
                lambda: _http_client(
                    chromadb,
                    host=parts.hostname,
                    port=port,
                    ssl=parts.scheme == "https",
                    headers=headers,
                    settings=settings,
                ),
                f"connecting to {url}",
            )
        else:
            self._store_lock = StoreLock(Path(str(path)), "Chroma")  # embedded Chroma has no lock of its own
            self.client = chromadb.PersistentClient(path=str(path), settings=settings)

    def _call(self, fn: Any, what: str) -> Any:
        with self._lock:
            return call_with_retry(fn, self.retry, what=f"{what} (collection {self.collection!r})")

    @property
    def metadata_check(self) -> MetadataCheck:
        """Chroma's rule: flat metadata (see :func:`flat_metadata_problem`)."""
        return flat_metadata_problem

    def _space(self) -> str:
        name = self.model.similarity_fn_name
        if name not in SPACES:
            raise ConfigError(f"the model's similarity {name!r} has no Chroma space; valid: {sorted(SPACES)}")
        return SPACES[name]

    def _get_collection(self) -> Any | None:
        chromadb = _chromadb()

        def get() -> Any | None:
            try:
                return self.client.get_collection(self.collection)
            except chromadb.errors.InvalidArgumentError as exc:
                raise self._invalid_name(exc) from exc
            except (chromadb.errors.NotFoundError, ValueError):
                return None

        return self._call(get, "opening the collection")

    def _invalid_name(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"Chroma refused the collection name {self.collection!r} ({exc}); pick a name of 3 to 512 letters, "
            "digits, '.', '_' or '-' that starts and ends with a letter or digit"
        )

    def _check(self, store: Any) -> str:
        """The collection's space, after checking its dimension and space against the model."""
        config = getattr(store, "configuration", None) or {}
        index = config.get("hnsw") or config.get("spann") or {}
        space = index.get("space") or (store.metadata or {}).get("hnsw:space", "l2")  # older chromadb: metadata
        dim = (store.metadata or {}).get(DIMENSION_KEY)
        if dim is None:  # a collection made elsewhere: look at one stored vector, if any
            peek = self._call(lambda: store.get(limit=1, include=["embeddings"]), "reading the collection")
            embeddings = peek.get("embeddings")
            dim = len(embeddings[0]) if embeddings is not None and len(embeddings) else None
        want_dim, want_space = self.model.embedding_dim, self._space()
        if (dim is not None and dim != want_dim) or space != want_space:
            raise IntegrationError(
                f"collection {self.collection!r} holds {dim or 'unknown'}-dimensional vectors in the {space!r} space, "
                f"but the model gives {want_dim}-dimensional vectors for the {want_space!r} space; pass recreate=True "
                "(it deletes the collection) or use another collection name"
            )
        return space

    def _open_collection(self, identity: ModelIdentity) -> tuple[_ChromaSink, Mapping[str, Any] | None]:
        store = self._get_collection()
        if store is not None and self.recreate and not self._recreated:
            self._call(lambda: self.client.delete_collection(self.collection), "deleting the collection")
            store = None
        self._recreated = True
        stored: Mapping[str, Any] | None = None
        if store is None:
            metadata = {
                DIMENSION_KEY: self.model.embedding_dim,
                SIMILARITY_KEY: self.model.similarity_fn_name,
                **identity.metadata(),
            }
            configuration = {"hnsw": {"space": self._space()}}
            try:
                store = self._call(
                    lambda: self.client.get_or_create_collection(
                        self.collection, metadata=metadata, configuration=configuration, embedding_function=None
                    ),
                    "creating the collection",
                )
            except _chromadb().errors.InvalidArgumentError as exc:
                raise self._invalid_name(exc) from exc
        else:
            stored = dict(store.metadata or {})
        self._checked = (store, self._check(store))
        return self._sink(store), stored

    def _forget_checks(self) -> None:
        self._checked = None

    def _write_identity(self, metadata: Mapping[str, Any]) -> None:
        store = self._get_collection()
        if store is None:
            raise IntegrationError(f"collection {self.collection!r} disappeared while it was being written; run again")
        # Index settings kept in the metadata by older chromadb (hnsw:space) cannot be modified: leave them out.
        kept = {k: v for k, v in (store.metadata or {}).items() if not k.startswith("hnsw:")}
        merged = {**kept, **metadata}
        self._call(lambda: store.modify(metadata=merged), "recording the model in the collection's metadata")

    def _sink(self, store: Any) -> _ChromaSink:
        limit = int(self._call(self.client.get_max_batch_size, "reading the server's max batch size"))
        size = min(self.upload_batch_size or limit, limit) if limit > 0 else (self.upload_batch_size or 1000)
        return _ChromaSink(self, store, size)

    def writer(self) -> _ChromaSink:
        """A write target on the existing collection: no creating or checking (for the workers of a job
        whose driver called :meth:`open_for_writing`).

        Raises:
            IntegrationError: the collection does not exist (any more).
        """
        store = self._get_collection()
        if store is None:
            raise IntegrationError(
                f"collection {self.collection!r} does not exist (it disappeared while the job was running?); "
                "run the ingest again"
            )
        return self._sink(store)

    def close(self) -> None:
        """Close the client if the ingestor opened it (embedded mode releases its files)."""
        if self._owns_client:
            self.client.close()
        if self._store_lock is not None:
            self._store_lock.release()

    def count(self) -> int:
        """The number of records in the collection (0 when it does not exist)."""
        store = self._get_collection()
        return 0 if store is None else int(self._call(store.count, "counting"))

    def search(self, query: str, k: int = 10, *, filter: Any = None) -> list[SearchHit]:
        """The ``k`` nearest documents to ``query`` (encoded with the model's query prompt, if any).

        Args:
            filter: ``{metadata_key: value}`` pairs (a list value matches any element), or a Chroma
                ``where`` dict using ``$`` operators.

        Returns:
            :class:`SearchHit` objects, best first; ``score`` is the model's similarity.

        Raises:
            IntegrationError: the collection is missing or does not fit the model.
        """
        positive_int("k", k)
        if self._checked is None:  # checked once per ingestor; an ingest checks again
            store = self._get_collection()
            if store is None:
                raise IntegrationError(f"collection {self.collection!r} does not exist; ingest documents into it first")
            space = self._check(store)
            check_readable(self.collection, store.metadata, ModelIdentity.of(self.model))
            self._checked = (store, space)
        store, space = self._checked
        embedding = np.asarray(self._encode_query(query), dtype=np.float32)
        where = to_where(filter)
        found = self._call(
            lambda: store.query(
                query_embeddings=[embedding],
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            ),
            "searching",
        )
        hits = []
        for point_id, text, metadata, distance in zip(
            found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0], strict=True
        ):
            metadata = dict(metadata or {})
            doc_id = metadata.pop(DOC_ID_KEY, None)
            for key in RESERVED_KEYS:
                metadata.pop(key, None)
            hits.append(SearchHit(str(doc_id or point_id), text or "", metadata, distance_to_score(distance, space)))
        return hits
