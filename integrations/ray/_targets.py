"""Where a Ray ingest writes: a Qdrant or Chroma collection, as a picklable, validated setting.

A target opens the same ingestor the single-process path uses (so collection creation, the checks
against the model, payload layout and retries are the ingestors' own), and builds a write handle for
a worker process that talks to the same server without loading the model.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from integrations._pipeline import Sink
from integrations._retry import RetryPolicy

if TYPE_CHECKING:
    from integrations._base import BaseIngestor
    from sbert_plugins.encoder import SentenceEncoder

_REMOTE = ("http://", "https://")


@dataclass(frozen=True)
class LearnedSparseSide:
    """The learned sparse vectors a Ray ingest writes: the sparse model each embedding actor loads (the name
    or folder the collection records) and the name of the vector they are stored under."""

    model: str
    vector_name: str


class _Target(BaseModel):
    # Validation errors never echo the input: it may hold an API key or a URL with credentials.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    collection: str = Field(min_length=1)
    url: str | None = None
    path: str | None = None
    recreate: bool = False
    reencode: bool = False
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @model_validator(mode="after")
    def _one_location(self) -> _Target:
        if (self.url is None) == (self.path is None):
            raise ValueError("pass exactly one of url= (a server) or path= (an embedded store)")
        if self.url is not None and not self.url.startswith(_REMOTE):
            raise ValueError(f"url must start with http:// or https://, found {self.url!r}")
        return self

    @property
    def remote(self) -> bool:
        """True for a server: Ray workers write to it directly (an embedded store is written by the driver)."""
        return self.url is not None

    @abstractmethod
    def open(self, model: SentenceEncoder | str | Path | None, *, recreate: bool | None = None) -> BaseIngestor:
        """The ingestor for this target (the single-process one, same rules); ``recreate`` overrides the field."""

    def worker_sink(self, ingestor: BaseIngestor) -> Sink:
        """A write handle on the existing collection, for a worker (no model needed, nothing created)."""
        return ingestor.writer()

    def for_workers(self, ingestor: BaseIngestor) -> tuple[Self, LearnedSparseSide | None]:
        """This target as the workers open it, and the learned sparse vectors the embedding actors compute
        (None: the target stores none), after the driver's ``ingestor`` opened the collection."""
        return self, None


class QdrantTarget(_Target):
    """A Qdrant collection: ``url`` (a server: the Ray workers write) or ``path`` (embedded: the driver writes).

    Fields: ``api_key``, ``prefer_grpc``, ``timeout`` (seconds per request) for a server; ``hybrid``
    (also store BM25 sparse vectors), ``sparse_model`` (a learned sparse model's folder or name: its
    vectors are computed by the embedding actors, each loading it once, and stored beside the dense ones;
    default: the collection's recorded one, if any), ``recreate`` (drop the collection first), ``reencode``
    (rewrite another model's stored vectors with this one first, on the driver), ``upload_batch_size``
    (points per upsert) and ``retry`` as for :class:`~integrations.qdrant.QdrantIngestor`.
    """

    api_key: SecretStr | None = None
    prefer_grpc: bool = False
    timeout: int | None = None
    hybrid: bool = False
    sparse_model: str | None = Field(default=None, min_length=1)
    upload_batch_size: int = Field(default=256, gt=0)

    def open(self, model: SentenceEncoder | str | Path | None, *, recreate: bool | None = None) -> BaseIngestor:
        from integrations.qdrant import QdrantIngestor

        location: dict[str, Any] = (
            {"url": self.url, "api_key": self.api_key, "prefer_grpc": self.prefer_grpc}
            if self.url is not None
            else {"path": self.path}
        )
        return QdrantIngestor(
            model,
            self.collection,
            **location,
            timeout=self.timeout,
            hybrid=self.hybrid,
            sparse_model=self.sparse_model,
            recreate=self.recreate if recreate is None else recreate,
            reencode=self.reencode,
            upload_batch_size=self.upload_batch_size,
            retry=self.retry,
        )

    def for_workers(self, ingestor: BaseIngestor) -> tuple[Self, LearnedSparseSide | None]:
        from integrations.qdrant import QdrantIngestor

        if not isinstance(ingestor, QdrantIngestor):
            raise TypeError(f"a QdrantTarget's ingestor is a QdrantIngestor, found {type(ingestor).__name__}")
        learned = ingestor.learned_sparse  # the one given, else the collection's recorded one
        if learned is None:
            return self, None
        side = LearnedSparseSide(learned.name, ingestor.learned_sparse_vector_name)
        # Named explicitly for the workers: none of them looks the model up in the collection again.
        return self.model_copy(update={"sparse_model": learned.name}), side


class ChromaTarget(_Target):
    """A Chroma collection: ``url`` (``http://HOST:PORT``: the Ray workers write) or ``path`` (embedded: the driver).

    Fields: ``headers`` for the server; ``recreate``, ``reencode``, ``upload_batch_size`` (records per
    upsert, capped at the server's limit) and ``retry`` as for :class:`~integrations.chroma.ChromaIngestor`.
    """

    headers: dict[str, SecretStr] | None = None  # they often carry a token
    upload_batch_size: int | None = Field(default=None, gt=0)

    def open(self, model: SentenceEncoder | str | Path | None, *, recreate: bool | None = None) -> BaseIngestor:
        from integrations.chroma import ChromaIngestor

        headers = None if self.headers is None else {k: v.get_secret_value() for k, v in self.headers.items()}
        location: dict[str, Any] = {"url": self.url, "headers": headers} if self.url else {"path": self.path}
        return ChromaIngestor(
            model,
            self.collection,
            **location,
            recreate=self.recreate if recreate is None else recreate,
            reencode=self.reencode,
            upload_batch_size=self.upload_batch_size,
            retry=self.retry,
        )
