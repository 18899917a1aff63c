"""Applying the stack ``finetune`` recorded beside a model (:mod:`sbert_plugins.stack_record`), vendor-free:
the record read and checked against the models in use, and what each piece of the stack means for a
Qdrant collection. ``sbert-plugins search``, :func:`integrations.langchain.stack_retriever` and
:func:`integrations.haystack.stack_query_pipeline` all go through these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from sbert_plugins.errors import ConfigError
from sbert_plugins.stack_record import StackRecord, check_stack_models, read_stack_record

if TYPE_CHECKING:
    from sbert_plugins.cross_encoder import CrossEncoder
    from sbert_plugins.encoder import SentenceEncoder
    from sbert_plugins.sparse import SparseEncoder

T = TypeVar("T")
QdrantMode = Literal["dense", "sparse", "hybrid"]
SparseKind = Literal["bm25", "learned"]
_SEARCHES: dict[str, tuple[QdrantMode, SparseKind | None]] = {
    "dense": ("dense", None),
    "bm25": ("sparse", "bm25"),
    "dense+bm25": ("hybrid", "bm25"),
    "sparse": ("sparse", "learned"),
    "dense+sparse": ("hybrid", "learned"),
}


def recorded_stack(model: str | Path | None, encoder: SentenceEncoder) -> StackRecord | None:
    """The stack recorded in the folder of ``model`` (the bi-encoder ``encoder`` was loaded from), checked
    against ``encoder``; ``None`` when ``model`` is not a local folder or records no stack.

    Raises:
        ConfigError: the record is damaged, or was made with a bi-encoder of another fingerprint.
    """
    if model is None or not Path(model).is_dir():
        return None
    record = read_stack_record(model)
    if record is not None:
        check_stack_models(record, dense_fingerprint=encoder.fingerprint, where=str(model))
    return record


def qdrant_search(record: StackRecord) -> tuple[QdrantMode, SparseKind | None]:
    """How a Qdrant collection (dense vectors, and BM25 or learned sparse ones) runs the record's first stage:
    the search mode (``dense``, ``sparse``, ``hybrid``: reciprocal rank fusion) and which sparse vectors."""
    return _SEARCHES[record.first_stage]


def recorded_sparse_model(record: StackRecord, where: str | Path, *, device: str | None = None) -> SparseEncoder | None:
    """The record's learned sparse model, loaded from its folder and checked against its fingerprint (``None``:
    the first stage has no learned sparse side).

    Raises:
        ConfigError: the folder is gone, or holds a model of another fingerprint.
    """
    from sbert_plugins.sparse import SparseEncoder

    model = _load_recorded(record, where, record.sparse_path(where), "learned sparse model", SparseEncoder, device)
    if model is not None:
        check_stack_models(
            record, dense_fingerprint=record.dense_fingerprint, sparse_fingerprint=model.fingerprint, where=str(where)
        )
    return model


def recorded_reranker(record: StackRecord, where: str | Path, *, device: str | None = None) -> CrossEncoder | None:
    """The record's re-ranker, loaded from its folder and checked against its fingerprint (``None``: the stack
    has no re-ranker).

    Raises:
        ConfigError: the re-ranker's folder is gone, or holds a model of another fingerprint.
    """
    from sbert_plugins.cross_encoder import CrossEncoder

    reranker = _load_recorded(record, where, record.reranker_path(where), "re-ranker", CrossEncoder, device)
    if reranker is not None:
        check_stack_models(
            record,
            dense_fingerprint=record.dense_fingerprint,
            reranker_fingerprint=reranker.fingerprint,
            where=str(where),
        )
    return reranker


def _load_recorded(
    record: StackRecord, where: str | Path, path: Path | None, what: str, load: Callable[..., T], device: str | None
) -> T | None:
    if path is None:
        return None
    if not path.is_dir():
        raise ConfigError(
            f"{where} records the stack {record.name!r} with the {what} {path}, which is not a folder (moved or "
            "deleted?); move it back, re-run finetune, or ignore the record (CLI: --no-stack; Python: stack=False)"
        )
    return load(str(path), device=device)


__all__ = ["QdrantMode", "SparseKind", "qdrant_search", "recorded_reranker", "recorded_sparse_model", "recorded_stack"]
