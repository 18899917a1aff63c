"""kill -9 during an embedded Qdrant / Chroma ingest, at seeded random moments, resumed each time: every run ends
with exactly one point per document and the vectors of an uninterrupted ingest.

Ten kills per store, each at a seeded moment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.faults.conftest import moments, run_and_kill
from tests.faults.ingest_child import open_ingestor
from tests.integrations.corpus import make_docs

N = 160
KILLS = 10


def _stored(store: str, ingestor: object) -> dict[str, np.ndarray]:
    """doc id -> stored vector, failing on any duplicate."""
    found: dict[str, np.ndarray] = {}
    if store == "qdrant":
        points, _ = ingestor.client.scroll("docs", limit=4 * N, with_payload=["_doc_id"], with_vectors=True)  # type: ignore[attr-defined]
        pairs = [(p.payload["_doc_id"], np.asarray(p.vector, dtype=np.float32)) for p in points]
    else:
        got = ingestor.client.get_collection("docs").get(include=["metadatas", "embeddings"], limit=4 * N)  # type: ignore[attr-defined]
        pairs = [(m["_doc_id"], np.asarray(e, dtype=np.float32)) for m, e in zip(got["metadatas"], got["embeddings"])]
    for doc_id, vector in pairs:
        assert doc_id not in found, f"{doc_id} stored twice"
        # Cosine collections: embedded Qdrant normalises in memory but hands back what it persisted.
        found[doc_id] = vector / np.linalg.norm(vector)
    return found


@pytest.mark.parametrize("store", ["qdrant", "chroma"])
def test_kill_9_during_ingest_then_resume(store: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client" if store == "qdrant" else "chromadb")
    with open_ingestor(store, str(tiny_model_dir), str(tmp_path / "reference")) as reference:
        reference.ingest(make_docs(N), show_progress=False)
        expected = _stored(store, reference)

    path = str(tmp_path / "store")
    killed = 0
    for index, delay in moments(KILLS, 10, N - 10, seed={"qdrant": 19, "chroma": 20}[store]):
        argv = ["tests.faults.ingest_child", store, str(tiny_model_dir), path, str(N)]
        killed += run_and_kill(argv, f"read {index}", delay)
        with open_ingestor(store, str(tiny_model_dir), path) as ingestor:  # each kill is resumed
            before = ingestor.count()
            summary = ingestor.ingest(make_docs(N), show_progress=False)
            assert summary.skipped == before and summary.written + summary.skipped == N
            assert summary.overwritten == 0 and not summary.rejected
            stored = _stored(store, ingestor)
        assert sorted(stored) == sorted(expected)
        for doc_id, vector in stored.items():
            np.testing.assert_allclose(vector, expected[doc_id], atol=1e-5, err_msg=doc_id)
    assert killed >= 1, "no child was killed before it finished"
