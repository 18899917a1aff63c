"""Applying the stack ``finetune`` recorded beside a model (:mod:`sbert_plugins.stack_record`), vendor-free:
the record read and checked against the models in use, and what each piece of the stack means for a
Qdrant collection. ``sbert-plugins search``, :func:`integrations.langchain.stack_retriever` and
:func:`integrations.haystack.stack_query_pipeline` all go through these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sbert_plugins.errors import ConfigError
from sbert_plugins.stack_record import StackRecord, check_stack_models, read_stack_record

if TYPE_CHECKING:
    from sbert_plugins.cross_encoder import CrossEncoder
    from sbert_plugins.encoder import SentenceEncoder

QdrantMode = Literal["dense", "sparse", "hybrid"]
_MODES: dict[str, QdrantMode] = {"dense": "dense", "bm25": "sparse", "dense+bm25": "hybrid"}


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


def qdrant_mode(record: StackRecord, where: str | Path) -> QdrantMode:
    """The search mode of a Qdrant collection written with dense and BM25 vectors that runs the record's
    first stage (``dense``, ``sparse`` for BM25, ``hybrid`` for dense + BM25).

    Raises:
        ConfigError: the first stage uses the learned sparse model, which a BM25 collection cannot serve.
    """
    mode = _MODES.get(record.first_stage)
    if mode is None:
        raise ConfigError(
            f"{where} records the stack {record.name!r}, whose first stage needs the learned sparse model's "
            "vectors in the collection, which this installation cannot search yet; ignore the record and "
            "choose the retrieval yourself (CLI: --no-stack; Python: stack=False)"
        )
    return mode


def recorded_reranker(record: StackRecord, where: str | Path, *, device: str | None = None) -> CrossEncoder | None:
    """The record's re-ranker, loaded from its folder and checked against its fingerprint (``None``: the stack
    has no re-ranker).

    Raises:
        ConfigError: the re-ranker's folder is gone, or holds a model of another fingerprint.
    """
    path = record.reranker_path(where)
    if path is None:
        return None
    if not path.is_dir():
        raise ConfigError(
            f"{where} records the stack {record.name!r} with the re-ranker {path}, which is not a folder (moved or "
            "deleted?); move it back, re-run finetune, or ignore the record (CLI: --no-stack; Python: stack=False)"
        )
    from sbert_plugins.cross_encoder import CrossEncoder

    reranker = CrossEncoder(str(path), device=device)
    check_stack_models(
        record,
        dense_fingerprint=record.dense_fingerprint,
        reranker_fingerprint=reranker.fingerprint,
        where=str(where),
    )
    return reranker


__all__ = ["QdrantMode", "qdrant_mode", "recorded_reranker", "recorded_stack"]
