"""The stack record: which retrieval stack ``finetune`` chose on its validation queries, saved beside the
model (``stack.json`` in its folder) with the fingerprints of every model the stack names.

A stack is a first stage (dense, BM25, learned sparse, or dense fused with one of the sparse sides by
reciprocal rank fusion, :mod:`sbert_plugins.rank_fusion`), optionally followed by the re-ranker mixed with the
bi-encoder by the fusion rule (:mod:`sbert_plugins.cross_encoder.fusion`) at the weight tuned for that first
stage's candidates. ``sbert-plugins search``, :func:`integrations.langchain.stack_retriever` and
:func:`integrations.haystack.stack_query_pipeline` read it with :func:`read_stack_record` and apply it by
default; a model whose fingerprint no longer matches (re-trained since) makes them refuse the record, as
:func:`~sbert_plugins.cross_encoder.fusion_record.check_fusion_pairing` does for a fusion weight.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins.errors import ConfigError

STACK_FILE = "stack.json"
STACK_RECORD_VERSION = 1
FirstStage = Literal["dense", "bm25", "dense+bm25", "sparse", "dense+sparse"]
FIRST_STAGES: tuple[str, ...] = get_args(FirstStage)
RERANKED = "+reranker"


def stack_name(first_stage: str, reranked: bool) -> str:
    """The name of a stack in reports: the first stage, with ``+reranker`` when a re-ranker follows."""
    return first_stage + (RERANKED if reranked else "")


@dataclass(frozen=True)
class StackRecord:
    """The chosen stack and the models it names.

    Attributes:
        first_stage: one of :data:`FIRST_STAGES` (``sparse`` is the learned sparse model, ``bm25`` the
            project's BM25 vectors with the store's IDF).
        dense_fingerprint: fingerprint of the bi-encoder in the record's folder (the dense side, and the
            first-stage scores of the fusion rule).
        sparse_model: the learned sparse model's folder, relative to the record's folder when inside it
            (``None`` unless the first stage uses it).
        sparse_fingerprint: its fingerprint.
        reranker: the re-ranker's folder (``None``: no re-ranker).
        reranker_fingerprint: its fingerprint.
        fusion_weight: the re-ranker's share in the fusion rule, tuned over ``candidates`` of this first
            stage's candidates per query.
        candidates: how many first-stage candidates the re-ranker re-orders.
        rrf_k: the reciprocal rank fusion constant of hybrid first stages.
        bm25: the BM25 parameters (:class:`~sbert_plugins.bm25.BM25Config` fields) of BM25 first stages.
        validation_ndcg: nDCG@10 of every stack compared, on the validation queries it was chosen on.
        version: the record's format (:data:`STACK_RECORD_VERSION`).
    """

    first_stage: str
    dense_fingerprint: str
    sparse_model: str | None = None
    sparse_fingerprint: str | None = None
    reranker: str | None = None
    reranker_fingerprint: str | None = None
    fusion_weight: float | None = None
    candidates: int = 30
    rrf_k: int = 2
    bm25: dict[str, Any] | None = None
    validation_ndcg: dict[str, float] = field(default_factory=dict)
    version: int = STACK_RECORD_VERSION

    def __post_init__(self) -> None:
        if self.first_stage not in FIRST_STAGES:
            raise ConfigError(f"first_stage must be one of {list(FIRST_STAGES)}, found {self.first_stage!r}")
        if not isinstance(self.dense_fingerprint, str) or not self.dense_fingerprint:
            raise ConfigError("dense_fingerprint must be a non-empty string")
        uses_sparse = "sparse" in self.first_stage.split("+")
        if uses_sparse != (self.sparse_model is not None) or uses_sparse != (self.sparse_fingerprint is not None):
            raise ConfigError(
                f"first stage {self.first_stage!r}: sparse_model and sparse_fingerprint must be given exactly when "
                "it uses the learned sparse model"
            )
        reranked = (self.reranker, self.reranker_fingerprint, self.fusion_weight)
        if any(x is None for x in reranked) and any(x is not None for x in reranked):
            raise ConfigError("reranker, reranker_fingerprint and fusion_weight are given together, or none of them")
        weight = self.fusion_weight
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight)
        ):
            raise ConfigError(f"fusion_weight must be a number in [0, 1], found {weight!r}")
        if weight is not None and not 0.0 <= weight <= 1.0:
            raise ConfigError(f"fusion_weight must lie in [0, 1], found {weight!r}")
        for name in ("candidates", "rrf_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, found {value!r}")

    @property
    def name(self) -> str:
        """The stack's name (:func:`stack_name`), e.g. ``dense+bm25+reranker``."""
        return stack_name(self.first_stage, self.reranker is not None)

    @property
    def uses_bm25(self) -> bool:
        """Whether the first stage has a BM25 side."""
        return "bm25" in self.first_stage.split("+")

    @property
    def uses_dense(self) -> bool:
        """Whether the first stage has a dense side."""
        return "dense" in self.first_stage.split("+")

    def sparse_path(self, folder: str | Path) -> Path | None:
        """The learned sparse model's folder, for a record read from ``folder``."""
        return None if self.sparse_model is None else Path(folder) / self.sparse_model

    def reranker_path(self, folder: str | Path) -> Path | None:
        """The re-ranker's folder, for a record read from ``folder`` (relative paths count from there)."""
        return None if self.reranker is None else Path(folder) / self.reranker


def write_stack_record(folder: str | Path, record: StackRecord) -> Path:
    """Write ``record`` to ``folder/stack.json`` (a temporary file, flushed, renamed into place).

    Raises:
        ConfigError: ``folder`` is not an existing folder (save the model there first).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; save the model there before its stack record")
    path = folder / STACK_FILE
    write_json(path, asdict(record))
    return path


def read_stack_record(folder: str | Path) -> StackRecord | None:
    """The stack record in a model's folder, or ``None`` when it has none (or ``folder`` is not a local folder).

    Raises:
        ConfigError: ``stack.json`` is malformed, lacks a field or has another version.
    """
    path = Path(folder) / STACK_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    if data.get("version") != STACK_RECORD_VERSION:
        raise ConfigError(
            f"{path}: record version {data.get('version')!r}, this version reads {STACK_RECORD_VERSION}; "
            "re-run finetune"
        )
    fields = set(StackRecord.__dataclass_fields__)
    unknown = sorted(set(data) - fields)
    if unknown or "first_stage" not in data or "dense_fingerprint" not in data:
        raise ConfigError(f"{path}: unknown fields {unknown}; first_stage and dense_fingerprint are required")
    try:
        return StackRecord(**data)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def check_stack_models(
    record: StackRecord,
    *,
    dense_fingerprint: str,
    sparse_fingerprint: str | None = None,
    reranker_fingerprint: str | None = None,
    where: str = "the model's folder",
) -> None:
    """Check that the models about to run the recorded stack are the ones it was chosen with.

    Args:
        record: the record read from ``where``.
        dense_fingerprint: the bi-encoder in use.
        sparse_fingerprint, reranker_fingerprint: the learned sparse model and the re-ranker in use (not
            checked when ``None``).
        where: the folder, for messages.

    Raises:
        ConfigError: a fingerprint differs; the message names the model, both fingerprints and the fixes.
    """
    checks = [
        ("bi-encoder", where, record.dense_fingerprint, dense_fingerprint),
        ("learned sparse model", record.sparse_model, record.sparse_fingerprint, sparse_fingerprint),
        ("re-ranker", record.reranker, record.reranker_fingerprint, reranker_fingerprint),
    ]
    problems = [
        f"the {what} {name} had fingerprint {recorded} when the stack was chosen, now {current}"
        for what, name, recorded, current in checks
        if current is not None and recorded is not None and recorded != current
    ]
    if problems:
        raise ConfigError(
            f"{where}/{STACK_FILE} records the stack {record.name!r}, but " + "; ".join(problems) + " (re-trained "
            "since?). Re-run finetune to choose the stack again, or ignore the record and choose the retrieval "
            "yourself (CLI: --no-stack; Python: stack=False)"
        )


__all__ = [
    "FIRST_STAGES",
    "STACK_FILE",
    "STACK_RECORD_VERSION",
    "StackRecord",
    "check_stack_models",
    "read_stack_record",
    "stack_name",
    "write_stack_record",
]
