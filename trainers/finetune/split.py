"""The dev split: a seeded share of the distinct queries, held out from training and used for evaluation."""

from __future__ import annotations

import random
from collections.abc import Sequence

from sbert_plugins.errors import ConfigError


def split_queries(
    query_ids: Sequence[str], *, dev_ratio: float, dev_size: int | None, seed: int
) -> tuple[list[str], list[str]]:
    """Split query ids into (train, dev), both in their original order.

    Args:
        query_ids: the distinct query ids (each with at least one relevant document).
        dev_ratio: share of the queries held out (rounded, at least one), used when ``dev_size`` is None.
        dev_size: exact number of held-out queries.
        seed: the same seed and ids give the same split.

    Raises:
        ConfigError: the split would leave no training or no dev query.
    """
    total = len(query_ids)
    wanted = dev_size if dev_size is not None else max(1, round(total * dev_ratio))
    if not 1 <= wanted < total:
        raise ConfigError(
            f"a dev split of {wanted} out of {total} queries leaves nothing to train on or to evaluate; "
            "lower dev_size / dev_ratio or add pairs"
        )
    shuffled = list(query_ids)
    random.Random(seed).shuffle(shuffled)
    dev = set(shuffled[:wanted])
    return [q for q in query_ids if q not in dev], [q for q in query_ids if q in dev]
