"""The checks a loss makes on ``features`` before embedding them, for losses that embed columns their own way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sbert_plugins.errors import DataError
from trainers.losses._checks import check_column_count


def check_feature_columns(owner: str, features: Any, *, minimum: int, maximum: int | None, columns: str) -> None:
    """DataError unless ``features`` is a list of ``model.tokenize`` dicts of an accepted length.

    The same checks (and messages) as :meth:`EmbeddingLoss.forward <trainers.losses._base.EmbeddingLoss.forward>`.
    """
    if isinstance(features, Mapping) or not isinstance(features, Sequence):
        raise DataError(
            f"{owner} expects a list of feature dicts (one per text column {columns}), found {type(features).__name__}"
        )
    check_column_count(owner, len(features), minimum=minimum, maximum=maximum, columns=columns)
    for index, column in enumerate(features):
        if not isinstance(column, Mapping):
            raise DataError(
                f"{owner}: column {index} must be a dict from model.tokenize, found {type(column).__name__}"
            )
        if "input_ids" not in column:
            raise DataError(f"{owner}: column {index} has no 'input_ids'; build it with model.tokenize(texts)")
