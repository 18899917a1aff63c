"""SBERTReranker and RerankingRetriever with the fusion record: nothing loaded that was not named, the
recorded weight picked up and checked against the bi-encoder, and top_n honoured by the retriever."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ValidationError

from integrations.langchain import RerankingRetriever, SBERTReranker
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import (
    CrossEncoder,
    FusionRecord,
    first_stage_scores,
    fuse_scores,
    reranker_scores,
    write_fusion_record,
)
from tests.conftest import build_tiny_modules
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier

DOCS = [
    Document(text, id=str(i))
    for i, text in enumerate(
        [
            "the cat sits on the chair",
            "a dog runs in the park",
            "the dog and the cat play",
            "bread in the kitchen",
            "a man plays guitar",
            "the moon is big at night",
        ]
    )
]


class ListRetriever(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return list(self.documents)


class OverlapScorer:
    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        return np.array([len(set(q.split()) & set(t.split())) for q, t in pairs], dtype=np.float32)


@pytest.fixture()
def recorded(tmp_path: Path, tiny_encoder: SentenceEncoder) -> tuple[Path, FusionRecord]:
    """A tiny cross-encoder folder whose fusion record names ``tiny_encoder`` as its first stage."""
    folder = build_tiny_classifier(tmp_path / "rr")
    record = FusionRecord(
        weight=0.4,
        first_stage_fingerprint=tiny_encoder.fingerprint,
        first_stage="out/tiny",
        candidates=5,
        reranker_fingerprint=CrossEncoder(folder).fingerprint,
    )
    write_fusion_record(folder, record)
    return folder, record


def test_no_model_is_loaded_that_was_not_named() -> None:
    """Failed before: SBERTReranker() silently loaded all-MiniLM-L6-v2 on first use."""
    with pytest.raises(ValidationError, match="no model is loaded by default"):
        SBERTReranker()


def test_fusion_without_an_encoder_is_an_error_saying_how_to_pass_one(recorded: tuple[Path, FusionRecord]) -> None:
    """Failed before: the fusion's first stage fell back to all-MiniLM-L6-v2."""
    folder, _ = recorded
    with pytest.raises(ValidationError, match=r"pass encoder=SentenceEncoder\('out/tiny'\)"):
        SBERTReranker(model=folder)
    with pytest.raises(ValidationError, match="needs the first-stage bi-encoder"):
        SBERTReranker(model=OverlapScorer(), fusion_weight=0.5)
    assert SBERTReranker(model=folder, fusion_weight=None).applied_fusion_weight is None  # the cross-encoder alone


def test_the_recorded_weight_is_picked_up_and_applied(
    recorded: tuple[Path, FusionRecord], tiny_encoder: SentenceEncoder
) -> None:
    folder, record = recorded
    reranker = SBERTReranker(model=str(folder), encoder=tiny_encoder, top_n=6)
    assert reranker.applied_fusion_weight == record.weight and reranker.fusion_candidates == 5
    query, texts = "a dog in the park", [d.page_content for d in DOCS]
    logits = reranker_scores(CrossEncoder(folder), [(query, t) for t in texts])
    expected = fuse_scores(first_stage_scores(tiny_encoder, query, texts), logits, record.weight)
    np.testing.assert_allclose(reranker.score(query, texts), expected, atol=1e-5)


def test_another_bi_encoder_is_refused_and_an_explicit_weight_warns(
    recorded: tuple[Path, FusionRecord], tmp_path: Path
) -> None:
    other = SentenceEncoder(modules=build_tiny_modules(tmp_path / "other", seed=7), device="cpu")
    folder, record = recorded
    with pytest.raises(ValidationError) as caught:
        SBERTReranker(model=folder, encoder=other)
    assert record.first_stage_fingerprint in str(caught.value) and other.fingerprint in str(caught.value)
    with pytest.warns(UserWarning, match="tuned with the bi-encoder out/tiny"):
        assert SBERTReranker(model=folder, encoder=other, fusion_weight=0.7).applied_fusion_weight == 0.7


def test_a_re_trained_cross_encoder_does_not_take_the_old_record(
    recorded: tuple[Path, FusionRecord], tiny_encoder: SentenceEncoder
) -> None:
    folder, _ = recorded
    build_tiny_classifier(folder, seed=3)  # other weights in the same folder, the record left behind
    reranker = SBERTReranker(model=folder, encoder=tiny_encoder)
    with pytest.raises(Exception, match="re-trained since"):
        reranker.rerank(DOCS, "a dog")
    explicit = SBERTReranker(model=folder, encoder=tiny_encoder, fusion_weight=0.5)
    with pytest.warns(UserWarning, match="re-trained since"):  # the core's rule: a weight given only warns
        assert len(explicit.rerank(DOCS, "a dog")) == 3


def test_the_retriever_honours_top_n_and_the_recorded_candidates(
    recorded: tuple[Path, FusionRecord], tiny_encoder: SentenceEncoder
) -> None:
    """Failed before: RerankingRetriever returned its own k=4 whatever the reranker's top_n."""
    base = ListRetriever(documents=DOCS)
    assert (
        len(
            RerankingRetriever(base_retriever=base, reranker=SBERTReranker(model=OverlapScorer(), top_n=2)).invoke(
                "dog"
            )
        )
        == 2
    )
    assert (
        len(
            RerankingRetriever(base_retriever=base, reranker=SBERTReranker(model=OverlapScorer(), top_n=2), k=3).invoke(
                "dog"
            )
        )
        == 3
    )
    folder, _ = recorded
    retriever = RerankingRetriever(
        base_retriever=base, reranker=SBERTReranker(model=folder, encoder=tiny_encoder, top_n=3)
    )
    assert retriever.fetched == 5 and len(retriever.invoke("a dog")) == 3  # from the 5 the weight was tuned over
    with pytest.raises(ValidationError, match="k=6 is larger than fetch_k=5"):
        RerankingRetriever(base_retriever=base, reranker=SBERTReranker(model=OverlapScorer(), top_n=6), fetch_k=5)
