"""Which model wrote a collection: its name and fingerprint, kept in the collection's metadata.

Vendor-free: the ingestors read and write the metadata dict of their store (Qdrant collection
metadata, Chroma collection metadata); the rules of what may be written where live here, once.
A collection holds the vectors of one model: writing with another model is refused, unless the
caller asks to re-encode every stored vector first (ids, texts and metadata are kept). A Qdrant
collection may also hold the vectors of a learned sparse model (a ``SparseEncoder``) beside the dense
ones; that model is recorded under keys of its own and refused or re-encoded by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sbert_plugins.errors import IntegrationError

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

MODEL_KEY = "sbert_plugins_model"
FINGERPRINT_KEY = "sbert_plugins_fingerprint"
# The learned sparse model beside the dense one (Qdrant collections with learned sparse vectors).
SPARSE_MODEL_KEY = "sbert_plugins_sparse_model"
SPARSE_FINGERPRINT_KEY = "sbert_plugins_sparse_fingerprint"
# Set while a re-encode runs (the fingerprint it moves to; "" otherwise): the vectors then come from two models.
REENCODING_KEY = "sbert_plugins_reencoding"
IDENTITY_KEYS = (MODEL_KEY, FINGERPRINT_KEY, REENCODING_KEY)

FIXES = (
    "pass --recreate / recreate=True (deletes the collection and ingests afresh), "
    "--reencode / reencode=True (rewrites every stored vector with this model, keeping ids, texts and metadata), "
    "or write to another --collection"
)

WritePlan = Literal["write", "claim", "reencode"]
"""What opening a collection for writing must do first: nothing, record the model, or re-encode every vector."""


@dataclass(frozen=True)
class ModelIdentity:
    """A model's name (as the user gave it) and its fingerprint (what it computes); for a collection that
    also holds learned sparse vectors, ``sparse`` is the sparse model's identity."""

    name: str
    fingerprint: str
    sparse: ModelIdentity | None = None

    @classmethod
    def of(cls, model: SentenceEncoder, sparse: ModelIdentity | None = None) -> ModelIdentity:
        """The identity of a loaded encoder (``<modules>`` as its name when it was built from modules)."""
        return cls(model.source or "<modules>", model.fingerprint, sparse)

    @classmethod
    def recorded(cls, metadata: Mapping[str, Any] | None) -> ModelIdentity | None:
        """The identity a collection's metadata records, or None when it records none."""
        metadata = metadata or {}
        fingerprint = metadata.get(FINGERPRINT_KEY)
        if not isinstance(fingerprint, str) or not fingerprint:
            return None
        sparse_fingerprint = metadata.get(SPARSE_FINGERPRINT_KEY)
        sparse = None
        if isinstance(sparse_fingerprint, str) and sparse_fingerprint:
            sparse = cls(str(metadata.get(SPARSE_MODEL_KEY) or "<unknown>"), sparse_fingerprint)
        return cls(str(metadata.get(MODEL_KEY) or "<unknown>"), fingerprint, sparse)

    @property
    def fingerprints(self) -> str:
        """The dense fingerprint, and the sparse one after a ``+`` when there is a sparse model."""
        return self.fingerprint if self.sparse is None else f"{self.fingerprint}+{self.sparse.fingerprint}"

    def metadata(self) -> dict[str, Any]:
        """The collection metadata that records this identity (and ends any re-encode in progress)."""
        recorded = {MODEL_KEY: self.name, FINGERPRINT_KEY: self.fingerprint, REENCODING_KEY: ""}
        if self.sparse is not None:
            recorded.update({SPARSE_MODEL_KEY: self.sparse.name, SPARSE_FINGERPRINT_KEY: self.sparse.fingerprint})
        return recorded

    def __str__(self) -> str:
        dense = f"{self.name!r} (fingerprint {self.fingerprint})"
        return dense if self.sparse is None else f"{dense} with sparse model {self.sparse}"


def reencoding_metadata(stored: Mapping[str, Any] | None, target: ModelIdentity) -> dict[str, Any]:
    """The metadata a collection carries while its vectors are re-encoded into ``target``'s."""
    stored = stored or {}
    kept = {k: stored.get(k) or "" for k in (MODEL_KEY, FINGERPRINT_KEY)}
    kept.update({k: stored[k] for k in (SPARSE_MODEL_KEY, SPARSE_FINGERPRINT_KEY) if k in stored})
    return {**kept, REENCODING_KEY: target.fingerprints}


def plan_write(
    collection: str, stored: Mapping[str, Any] | None, model: ModelIdentity, *, empty: bool, reencode: bool
) -> WritePlan:
    """Whether ``model`` may write to an existing collection with metadata ``stored``, and what to do first.

    Returns:
        ``"write"`` (the collection records this model), ``"claim"`` (an empty collection that records no
        model: record this one), ``"reencode"`` (``reencode`` was asked and the stored vectors are not all
        this model's).

    Raises:
        IntegrationError: the collection's vectors come from another model, from an unknown one or from
            an interrupted re-encode, and ``reencode`` is off; the message names both models and the fixes.
    """
    recorded = ModelIdentity.recorded(stored)
    interrupted = (stored or {}).get(REENCODING_KEY) or None
    if interrupted is None and recorded is not None and recorded.fingerprints == model.fingerprints:
        return "write"
    if interrupted is None and recorded is None and empty:
        return "claim"
    if reencode:
        return "reencode"
    if interrupted is not None:
        problem = (
            f"a re-encode of collection {collection!r} into the model with fingerprint {interrupted} was "
            "interrupted, so its vectors come from two models"
        )
    elif recorded is None:
        problem = (
            f"collection {collection!r} holds vectors but records no model (it was written by another tool or "
            "an older sbert-plugins), so they may come from another model"
        )
    else:
        problem = (
            f"collection {collection!r} holds vectors of model {recorded}, but this ingest uses model {model}: "
            "their weights or settings differ, and one collection never mixes the vectors of two models"
        )
    raise IntegrationError(f"{problem}. Nothing was written; {FIXES}")


def check_readable(collection: str, stored: Mapping[str, Any] | None, model: ModelIdentity) -> None:
    """Raise :class:`IntegrationError` when searching with ``model`` would compare vectors of two models.

    A collection that records no model (written by another tool) is searched as it is.
    """
    recorded = ModelIdentity.recorded(stored)
    if (stored or {}).get(REENCODING_KEY):
        raise IntegrationError(
            f"a re-encode of collection {collection!r} was interrupted, so its vectors come from two models; "
            "finish it by running the ingest again with --reencode / reencode=True"
        )
    if recorded is not None and recorded.fingerprint != model.fingerprint:
        raise IntegrationError(
            f"collection {collection!r} holds vectors of model {recorded}, but the query is encoded with model "
            f"{model}; search with the model that wrote it, or re-encode the collection with this one "
            "(ingest --reencode / reencode=True)"
        )
    sparse = model.sparse
    if (
        recorded is not None
        and sparse is not None
        and getattr(recorded.sparse, "fingerprint", None) != sparse.fingerprint
    ):
        raise IntegrationError(
            f"collection {collection!r} holds learned sparse vectors of {recorded.sparse or 'no sparse model'}, but "
            f"the query's sparse side is encoded with sparse model {model.sparse}; search with the sparse model that "
            "wrote it (or give none: the collection's own is used), or re-encode the collection with this one "
            "(ingest --sparse-model ... --reencode / reencode=True)"
        )
