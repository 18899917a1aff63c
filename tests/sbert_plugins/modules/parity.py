"""Round trips with the reference: its folder loads here, ours loads there, with the same embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from sbert_plugins import SentenceEncoder

TEXTS = [
    "a man plays the guitar",
    "the cat sits on the chair in the park",
    "",
    "hello world",
    "two old women are dancing to music in the kitchen at night",
]


def assert_same_both_ways(
    reference: SentenceTransformer, tmp_path: Path, *, tasks: Sequence[str | None] = (None,), atol: float = 1e-5
) -> SentenceEncoder:
    """Save ``reference``, load it here, save ours and load that in the reference: every task's embeddings
    agree within ``atol`` at each step. Returns our model."""
    reference.eval()
    reference.save(str(tmp_path / "reference"))
    ours = SentenceEncoder(tmp_path / "reference", device="cpu")
    ours.save(tmp_path / "ours")
    back = SentenceTransformer(str(tmp_path / "ours"), device="cpu")
    for task in tasks:
        expected = reference.encode(TEXTS, task=task, convert_to_numpy=True)
        np.testing.assert_allclose(ours.encode(TEXTS, task=task), expected, atol=atol, err_msg=f"ours, task={task}")
        np.testing.assert_allclose(
            back.encode(TEXTS, task=task, convert_to_numpy=True), expected, atol=atol, err_msg=f"back, task={task}"
        )
    assert ours.embedding_dim == reference.get_embedding_dimension()
    return ours
