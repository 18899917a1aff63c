"""Learned sparse vectors (a :class:`~sbert_plugins.SparseEncoder`, e.g. SPLADE) for the vector stores.

Vendor-free. :class:`LearnedSparseEncoder` has the interface of :class:`~sbert_plugins.bm25.BM25Encoder`
(``encode_documents`` / ``encode_query``; :class:`SparseTextEncoder`), so the Qdrant ingestor, the
LangChain ``SparseEmbeddings`` adapter, the Haystack sparse embedders and the server take either kind of
sparse vector through the same code. Unlike BM25, a learned vector is the whole score: the store keeps it
without an IDF modifier, and a query's dot product with a document's is the model's similarity.

Each vector is a :class:`sbert_plugins.sparse.SparseVector` (token ids ascending, their weights), one per
text, from :func:`sbert_plugins.sparse.sparse_rows`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from integrations._encoder_lock import encoder_lock
from integrations._identity import ModelIdentity
from sbert_plugins.device import PrecisionSetting
from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse.rows import SparseVector

if TYPE_CHECKING:
    from sbert_plugins.sparse import SparseEncoder


class SparseTextEncoder(Protocol):
    """What makes a store's sparse vectors of texts: BM25 (:class:`~sbert_plugins.bm25.BM25Encoder`) or a
    learned model (:class:`LearnedSparseEncoder`)."""

    def encode_documents(self, texts: Sequence[str]) -> Sequence[SparseVector]:
        """The document-side vector of each text, in order."""
        ...

    def encode_query(self, text: str) -> SparseVector:
        """The query-side vector of ``text``."""
        ...


def model_name(spec: Any) -> str:
    """The name a sparse model is recorded under: the name or folder the user gave, as given, or the
    loaded model's own ``source`` (``<modules>`` when it was built in code)."""
    if isinstance(spec, (str, Path)):
        return str(spec)
    return str(getattr(spec, "source", None) or "<modules>")


class LearnedSparseEncoder:
    """Document and query vectors of a :class:`~sbert_plugins.SparseEncoder`, as a store keeps them.

    Args:
        model: a loaded ``SparseEncoder`` (shared as it is: pass one to several adapters to share its
            weights), or a model name or folder, loaded on first use.
        batch_size: at most this many texts per forward pass (default: the encoder's token-budget batching).
        device: where a model given by name is loaded (default: the encoder's choice).
        precision: how a model given by name is loaded (as ``SparseEncoder(precision=...)``).

    Documents are encoded with the model's document side (``encode_documents``: its document prompt, the
    document route of an inference-free model), queries with its query side. Calls into one encoder are
    serialised with every other adapter's (:func:`~integrations._encoder_lock.encoder_lock`).

    Raises:
        ConfigError: ``model`` is neither a ``SparseEncoder`` nor a name; ``batch_size`` is not positive.
    """

    def __init__(
        self,
        model: SparseEncoder | str | Path,
        *,
        batch_size: int | None = None,
        device: str | None = None,
        precision: PrecisionSetting = "fp32",
    ) -> None:
        from sbert_plugins.sparse import SparseEncoder

        if not isinstance(model, (SparseEncoder, str, Path)) or (isinstance(model, str) and not model.strip()):
            raise ConfigError(
                f"sparse_model must be a SparseEncoder or a model name or folder, found {type(model).__name__} "
                f"{model!r}"
            )
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
        ):
            raise ConfigError(f"batch_size must be a positive integer or None, found {batch_size!r}")
        self.name = model_name(model)
        self.batch_size = batch_size
        self._spec = model
        self._device = device
        self._precision = precision
        self._model: SparseEncoder | None = model if isinstance(model, SparseEncoder) else None
        self._lock = threading.Lock()

    @property
    def model(self) -> SparseEncoder:
        """The ``SparseEncoder``, loaded on first access when a name was given."""
        from sbert_plugins.sparse import SparseEncoder

        with self._lock:
            if self._model is None:
                self._model = SparseEncoder(str(self._spec), device=self._device, precision=self._precision)
            return self._model

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded (a model given by name loads on first use)."""
        return self._model is not None

    def identity(self) -> ModelIdentity:
        """The name the model was given by and its fingerprint (loads the model)."""
        return ModelIdentity(self.name, self.model.fingerprint)

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """The document-side sparse vector of each text, in order."""
        if isinstance(texts, str):
            raise TypeError("encode_documents expects a list of strings, found a single str: use encode_query")
        return self._encode(list(texts), documents=True)

    def encode_query(self, text: str) -> SparseVector:
        """The query-side sparse vector of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"expected the query as a str, found {type(text).__name__}")
        return self._encode([text], documents=False)[0]

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """The query-side sparse vector of each text, in order (one batched call)."""
        if isinstance(texts, str):
            raise TypeError("encode_queries expects a list of strings, found a single str: use encode_query")
        return self._encode(list(texts), documents=False)

    def _encode(self, texts: list[str], *, documents: bool) -> list[SparseVector]:
        from sbert_plugins.sparse import sparse_rows

        if not texts:
            return []
        model = self.model
        options: dict[str, Any] = {} if self.batch_size is None else {"batch_size": self.batch_size}
        with encoder_lock(model):
            encode = model.encode_documents if documents else model.encode_queries
            embeddings = encode(texts, **options)
        return list(sparse_rows(embeddings))
