"""The in-memory BM25 scores and reciprocal rank fusion finetune compares stacks with give what Qdrant gives
for the same collection: the same BM25 scores (IDF applied by the store) and the same hybrid top 10."""

from __future__ import annotations

import pytest

from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from sbert_plugins.bm25 import BM25Index
from sbert_plugins.rank_fusion import reciprocal_rank_fusion
from tests.trainers.finetune.conftest import PASSAGES, QUESTIONS

pytest.importorskip("qdrant_client")


def test_bm25_index_and_rrf_match_qdrant(tiny_encoder: SentenceEncoder) -> None:
    ids = list(PASSAGES)
    index = BM25Index([PASSAGES[d] for d in ids])
    with QdrantIngestor(tiny_encoder, "parity", path=":memory:", hybrid=True) as ingestor:
        ingestor.ingest([{"id": d, "text": PASSAGES[d]} for d in ids], show_progress=False)
        for question in [q for questions in QUESTIONS.values() for q in questions][:8]:
            sparse = ingestor.search(question, 12, mode="sparse")
            ours = index.scores(question)
            assert {h.id: h.score for h in sparse} == pytest.approx(
                {d: ours[i] for i, d in enumerate(ids) if ours[i] > 0}, rel=1e-5
            )
            dense = [h.id for h in ingestor.search(question, 12, mode="dense")]
            hybrid = ingestor.search(question, 10, mode="hybrid", prefetch_k=12)
            fused = reciprocal_rank_fusion([dense, [h.id for h in sparse]], limit=10)
            assert [h.id for h in hybrid] == [d for d, _ in fused]
            assert [h.score for h in hybrid] == pytest.approx([s for _, s in fused], rel=1e-6)
