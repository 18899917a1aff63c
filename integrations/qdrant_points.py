"""Pure conversions between the ingestor's documents and Qdrant points, the collection layout, and the
scoring of hybrid candidates (no client state: the ingestor in :mod:`integrations.qdrant` calls these).

Layout: the dense vector is the default (unnamed, ``""``) vector; the BM25 sparse vector is
``langchain-sparse`` (QdrantVectorStore's default name) with Qdrant's IDF modifier; a learned sparse
model's vector is ``learned-sparse`` with no modifier (its weights are the whole score). A collection
holds the dense vector and none, one or both sparse vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from integrations._base import SearchHit
from integrations._ingest import DOC_ID_KEY, HASH_KEY, IngestDocument
from integrations.hybrid import fuse_candidates
from integrations.learned_sparse import SparseTextEncoder
from sbert_plugins.errors import ConfigError, IntegrationError, missing_dependency
from sbert_plugins.sparse.rows import SparseVector

CONTENT_KEY = "page_content"
METADATA_KEY = "metadata"
DENSE_VECTOR_NAME = ""
SPARSE_VECTOR_NAME = "langchain-sparse"
LEARNED_SPARSE_VECTOR_NAME = "learned-sparse"
# Model similarity function -> Qdrant distance name (models.Distance values).
DISTANCES = {"cosine": "Cosine", "dot": "Dot", "euclidean": "Euclid", "manhattan": "Manhattan"}
SearchMode = Literal["dense", "sparse", "hybrid", "fusion"]
SEARCH_MODES = ("dense", "sparse", "hybrid", "fusion")


def qdrant_modules() -> Any:
    """``(QdrantClient, models)`` from qdrant-client.

    Raises:
        MissingDependencyError: qdrant-client is not installed.
    """
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
    _, models = qdrant_modules()
    if filter is None or isinstance(filter, models.Filter):
        return filter
    if not isinstance(filter, Mapping):
        raise ConfigError(f"filter must be a dict {{key: value}} or a qdrant Filter, found {type(filter).__name__}")
    conditions = []
    for key, value in filter.items():
        match = models.MatchAny(any=list(value)) if isinstance(value, (list, tuple)) else models.MatchValue(value=value)
        conditions.append(models.FieldCondition(key=f"{METADATA_KEY}.{key}", match=match))
    return models.Filter(must=conditions)


@dataclass(frozen=True)
class Layout:
    """Which sparse vectors a collection holds beside its dense one: BM25, learned, both or neither."""

    bm25: bool
    learned: bool


def sparse_vectors(
    docs: Sequence[IngestDocument],
    encoders: Mapping[str, SparseTextEncoder],
    given: Mapping[str, Sequence[SparseVector]] | None = None,
) -> dict[str, Any]:
    """The sparse vectors of ``docs`` by vector name, as ``models.SparseVector`` lists (one encoder per name).

    ``given``: vectors of some of these names computed elsewhere (a Ray embedding actor), one per document
    in order; those names are not encoded here.

    Raises:
        IntegrationError: ``given`` names a vector the collection does not store, or holds another number
            of vectors than ``docs``.
    """
    _, models = qdrant_modules()
    given = given or {}
    for name, vectors in given.items():
        if name not in encoders:
            raise IntegrationError(
                f"sparse vectors {name!r} were computed for documents of a collection that stores "
                f"{sorted(encoders) or 'no sparse vectors'}; compute the ones it stores"
            )
        if len(vectors) != len(docs):
            raise IntegrationError(f"{len(vectors)} {name!r} sparse vectors were computed for {len(docs)} documents")
    texts = [d.text for d in docs]
    rows = {
        name: given[name] if name in given else encoder.encode_documents(texts) for name, encoder in encoders.items()
    }
    return {
        name: [models.SparseVector(indices=list(v.indices), values=list(v.values)) for v in vectors]
        for name, vectors in rows.items()
    }


def read_layout(info: Any, collection: str, *, dim: int, distance: str, bm25_name: str, learned_name: str) -> Layout:
    """The sparse vectors of an existing collection (``info``: ``get_collection``'s answer), after checking
    its dense vector against the model's ``dim`` and ``distance`` and each sparse vector's modifier.

    Raises:
        IntegrationError: no default dense vector, another dimension or distance, a BM25 vector without
            the IDF modifier or a learned one with a modifier; the message names the fix.
    """
    vectors = info.config.params.vectors
    dense = vectors.get(DENSE_VECTOR_NAME) if isinstance(vectors, Mapping) else vectors
    fix = "pass recreate=True (it deletes the collection) or use another collection name"
    if dense is None:
        named = sorted(vectors) if isinstance(vectors, Mapping) else []
        raise IntegrationError(f"collection {collection!r} has no default (unnamed) dense vector, only {named}; {fix}")
    stored_distance = getattr(dense.distance, "value", dense.distance)
    if dense.size != dim or stored_distance != distance:
        raise IntegrationError(
            f"collection {collection!r} holds {dense.size}-dimensional vectors with {stored_distance} "
            f"distance, but the model gives {dim}-dimensional vectors compared by {distance}; {fix}"
        )
    stored_sparse = info.config.params.sparse_vectors or {}
    bm25 = stored_sparse.get(bm25_name)
    if bm25 is not None and getattr(bm25.modifier, "value", bm25.modifier) != "idf":
        raise IntegrationError(
            f"collection {collection!r} has a sparse vector {bm25_name!r} without the IDF "
            f"modifier, so BM25 scores would be wrong; {fix}"
        )
    learned = stored_sparse.get(learned_name)
    if learned is not None and getattr(learned.modifier, "value", learned.modifier) not in (None, "none"):
        raise IntegrationError(
            f"collection {collection!r} has a sparse vector {learned_name!r} with the "
            f"{learned.modifier} modifier, so learned sparse scores would be wrong; {fix}"
        )
    return Layout(bm25=bm25 is not None, learned=learned is not None)


def to_hit(point: Any, score: float) -> SearchHit:
    """The :class:`SearchHit` of a scored point (the caller's id when stored, else the point id)."""
    payload = point.payload or {}
    doc_id = payload.get(DOC_ID_KEY)
    return SearchHit(
        id=str(doc_id if doc_id is not None else point.id),
        text=payload.get(CONTENT_KEY, ""),
        metadata=dict(payload.get(METADATA_KEY) or {}),
        score=score,
    )


ScorePoints = Callable[[Any, str, Any, int], list[Any]]
"""``(query vector, vector name, filter, limit) -> scored points`` (with payloads), best first."""


@dataclass(frozen=True)
class Side:
    """One side of a hybrid search: the query vector, the vector name it searches, and the sign that
    makes its scores higher-is-better (-1 for euclidean and manhattan distances)."""

    vector: Any
    using: str
    sign: float = 1.0


def fusion_search(
    score_points: ScorePoints, dense: Side, sparse: Side, query_filter: Any, *, k: int, depth: int, weight: float
) -> list[SearchHit]:
    """Hybrid search by the fusion rule (:mod:`integrations.hybrid`): each side's best ``depth`` candidates,
    the other side's score of each candidate, fused; the ``k`` best.

    A sparse side only finds documents sharing a term with the query: any candidate it does not find
    scores 0 there (the dot product of vectors with no common index).
    """
    _, models = qdrant_modules()
    found = [score_points(side.vector, side.using, query_filter, depth) for side in (dense, sparse)]
    points = {p.id: p for side_points in found for p in side_points}
    scores: list[dict[Any, float]] = []
    for side, side_points in zip((dense, sparse), found, strict=True):
        side_scores = {p.id: side.sign * float(p.score) for p in side_points}
        missing = [point for point in points if point not in side_scores]
        if missing:
            by_id = models.Filter(must=[models.HasIdCondition(has_id=missing)])
            more = score_points(side.vector, side.using, by_id, len(missing))
            side_scores.update({p.id: side.sign * float(p.score) for p in more})
        scores.append({point: side_scores.get(point, 0.0) for point in points})
    return [to_hit(points[point], score) for point, score in fuse_candidates(scores[0], scores[1], weight)[:k]]
