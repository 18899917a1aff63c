"""The fusion record: the tuned weight of :mod:`sbert_plugins.cross_encoder.fusion`, saved in the
re-ranker's folder (``fusion.json``) with the identity of the bi-encoder it was tuned with.

A weight only means something for the pair of models it was tuned on: ``finetune --reranker-output``
(and ``examples/train_reranker.py``) write it with :func:`write_fusion_record`; every reader
(``SBERTReranker``, ``sbert-plugins search --rerank``, the Haystack ranker, the HTTP server) turns what its
user asked for into the weight it applies with :func:`applied_fusion_weight`, the one rule (it reads the
record with :func:`read_fusion_record` and checks the pairing with :func:`check_fusion_pairing`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sbert_plugins.errors import ConfigError

FUSION_FILE = "fusion.json"
FUSION_RULE = 1  # bumped when the rule in fusion.py changes meaning; older records are then refused


@dataclass(frozen=True)
class FusionRecord:
    """A tuned fusion weight and what it was tuned with.

    Attributes:
        weight: the re-ranker's share in :func:`~sbert_plugins.cross_encoder.fuse_scores`, in [0, 1].
        first_stage_fingerprint: :attr:`SentenceEncoder.fingerprint` of the bi-encoder whose candidates and
            scores the weight was tuned on.
        first_stage: that bi-encoder's name or folder when it was tuned (for messages; may have moved since).
        candidates: the first stage's candidates per query the weight was tuned over.
        reranker_fingerprint: :attr:`CrossEncoder.fingerprint` of the re-ranker it was tuned with.
        rule: the version of the fusion rule (:data:`FUSION_RULE`).
    """

    weight: float
    first_stage_fingerprint: str
    first_stage: str
    candidates: int
    reranker_fingerprint: str
    rule: int = FUSION_RULE

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
            raise ConfigError(f"fusion weight must be a number in [0, 1], found {self.weight!r}")
        if not (math.isfinite(self.weight) and 0.0 <= self.weight <= 1.0):
            raise ConfigError(f"fusion weight must lie in [0, 1], found {self.weight!r}")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates <= 0:
            raise ConfigError(f"candidates must be a positive integer, found {self.candidates!r}")
        for name in ("first_stage_fingerprint", "first_stage", "reranker_fingerprint"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{name} must be a non-empty string, found {getattr(self, name)!r}")


def write_fusion_record(folder: str | Path, record: FusionRecord) -> Path:
    """Write ``record`` to ``folder/fusion.json`` (a temporary file renamed into place).

    Returns:
        the path written.

    Raises:
        ConfigError: ``folder`` is not an existing folder (save the re-ranker there first).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; save the re-ranker there before its fusion record")
    path = folder / FUSION_FILE
    temporary = path.with_name(f".{FUSION_FILE}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(record), indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def read_fusion_record(folder: str | Path) -> FusionRecord | None:
    """The fusion record in a re-ranker's folder, or ``None`` when it has none (or ``folder`` is not a
    local folder, e.g. a Hub id).

    Raises:
        ConfigError: ``fusion.json`` is malformed, lacks a field, or was written under another fusion rule.
    """
    path = Path(folder) / FUSION_FILE
    if not path.is_file():
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); delete it, or re-run finetune --reranker-output") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    if data.get("rule") != FUSION_RULE:
        raise ConfigError(
            f"{path}: written under fusion rule {data.get('rule')!r}, this version applies rule {FUSION_RULE}; "
            "re-run finetune --reranker-output to tune the weight again, or pass the weight yourself"
        )
    fields = set(FusionRecord.__dataclass_fields__)
    missing, unknown = sorted(fields - set(data)), sorted(set(data) - fields)
    if missing or unknown:
        raise ConfigError(f"{path}: missing fields {missing}, unknown fields {unknown}")
    try:
        return FusionRecord(**data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def check_fusion_pairing(
    record: FusionRecord,
    *,
    first_stage_fingerprint: str | None = None,
    reranker_fingerprint: str | None = None,
    where: str = "the re-ranker's folder",
    strict: bool = True,
) -> None:
    """Check that the weight in ``record`` is applied to the models it was tuned with.

    Args:
        record: the record read from the re-ranker's folder.
        first_stage_fingerprint: the fingerprint of the bi-encoder about to be used (not checked when None).
        reranker_fingerprint: the fingerprint of the re-ranker about to be used (not checked when None).
        where: the folder, for messages.
        strict: raise on a mismatch (the weight came from the record); otherwise only warn (the caller
            passed its own weight, and the record is just a hint).

    Raises:
        ConfigError: with ``strict``, a mismatch; the message names both models and the fixes.
    """
    problems = []
    if first_stage_fingerprint is not None and record.first_stage_fingerprint != first_stage_fingerprint:
        problems.append(
            f"the fusion weight {record.weight} in {where} was tuned with the bi-encoder {record.first_stage} "
            f"(fingerprint {record.first_stage_fingerprint}), but the bi-encoder in use has fingerprint "
            f"{first_stage_fingerprint}"
        )
    if reranker_fingerprint is not None and record.reranker_fingerprint != reranker_fingerprint:
        problems.append(
            f"{where}/{FUSION_FILE} was written for a re-ranker with fingerprint {record.reranker_fingerprint}, "
            f"but the re-ranker there now has fingerprint {reranker_fingerprint} (re-trained since?)"
        )
    if not problems:
        return
    message = "; ".join(problems)
    if not strict:
        warnings.warn(f"{message}; using the weight you passed", UserWarning, stacklevel=3)
        return
    raise ConfigError(
        f"{message}. Use the bi-encoder the weight was tuned with, re-run finetune --reranker-output with this "
        "one, pass a fusion weight yourself (Python: fusion_weight=W; CLI: --fusion-weight W), or rank by the "
        "re-ranker alone (fusion_weight=None; --no-fusion)"
    )


def applied_fusion_weight(
    requested: float | Literal["recorded"] | None,
    folder: str | Path | None,
    *,
    first_stage_fingerprint: str | None = None,
    reranker_fingerprint: str | None = None,
) -> float | None:
    """The fusion weight a re-ranker applies, from what its caller asked for and the record in its folder.

    Args:
        requested: a weight (used as given; a record tuned with other models only warns), ``"recorded"``
            (the weight in ``folder``'s record, refused when it was tuned with other models) or ``None``.
        folder: the cross-encoder's folder (``None`` or not a folder: no record).
        first_stage_fingerprint, reranker_fingerprint: the models about to be used; ``None``: not known
            yet (e.g. the re-ranker is loaded on first use), so not checked: call again once it is.

    Returns:
        the weight, or ``None`` for no fusion (asked for none, or ``"recorded"`` without a record).

    Raises:
        ConfigError: ``"recorded"`` and the record was tuned with other models.
    """
    if requested is None:
        return None
    record = read_fusion_record(folder) if folder is not None and Path(folder).is_dir() else None
    if record is not None:
        check_fusion_pairing(
            record,
            first_stage_fingerprint=first_stage_fingerprint,
            reranker_fingerprint=reranker_fingerprint,
            where=str(folder),
            strict=requested == "recorded",
        )
    if requested == "recorded":
        return record.weight if record is not None else None
    return requested


__all__ = [
    "FUSION_FILE",
    "FUSION_RULE",
    "FusionRecord",
    "applied_fusion_weight",
    "check_fusion_pairing",
    "read_fusion_record",
    "write_fusion_record",
]
