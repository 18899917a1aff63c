"""SBERTReranker and RerankingRetriever: ordering, copies, top_n / threshold, scorers, k and fetch_k."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from integrations.langchain import BiEncoderScorer, PairScorer, RerankingRetriever, SBERTEmbeddings, SBERTReranker
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder, fuse_scores
from sbert_plugins.errors import ConfigError, IntegrationError, ModelNotFoundError
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier

DOCS = [
    Document("the cat sits on the chair", metadata={"source": "a"}, id="a"),
    Document("a dog runs in the park", metadata={"source": "b"}, id="b"),
    Document("the dog and the cat play in the park", metadata={"source": "c"}, id="c"),
    Document("bread in the kitchen", metadata={"source": "d"}, id="d"),
]


class OverlapScorer:
    """Scores a pair by the number of query words found in the text; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[tuple[str, str]], int]] = []

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        self.calls.append((list(pairs), batch_size))
        return np.array([len(set(q.split()) & set(t.split())) for q, t in pairs], dtype=np.float32)


class FixedScorer:
    def __init__(self, output: Any) -> None:
        self.output = output

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = 32) -> Any:
        return self.output


class ListRetriever(BaseRetriever):
    """A retriever without search_kwargs: returns its documents in order."""

    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return list(self.documents)


# ---- SBERTReranker -----------------------------------------------------------------------------


def test_settings_round_trip_through_json(tmp_path: Path) -> None:
    folder = build_tiny_classifier(tmp_path / "cross")
    reranker = SBERTReranker(model=str(folder), top_n=5, score_threshold=0.5, batch_size=4)
    assert SBERTReranker.model_validate_json(reranker.model_dump_json()).model_dump() == reranker.model_dump()


def test_fake_scorer_follows_the_protocol() -> None:
    assert isinstance(OverlapScorer(), PairScorer)


def test_sorted_copies_with_scores_and_inputs_untouched() -> None:
    scorer = OverlapScorer()
    reranker = SBERTReranker(model=scorer, top_n=3, batch_size=7)
    before = [doc.model_copy(deep=True) for doc in DOCS]
    ranked = reranker.compress_documents(DOCS, "dog cat park")
    assert [doc.id for doc in ranked] == ["c", "b", "a"]
    assert [doc.metadata["relevance_score"] for doc in ranked] == [3.0, 2.0, 1.0]
    assert ranked[0].metadata["source"] == "c" and ranked[0].page_content == DOCS[2].page_content
    assert before == DOCS and all(doc.metadata == {"source": doc.id} for doc in DOCS)  # inputs unchanged
    assert all(doc is not original for doc in ranked for original in DOCS)
    assert scorer.calls == [([("dog cat park", doc.page_content) for doc in DOCS], 7)]


def test_ties_keep_input_order_and_top_n_cuts() -> None:
    scorer = FixedScorer(np.array([1.0, 2.0, 2.0, 1.0]))
    assert [doc.id for doc in SBERTReranker(model=scorer, top_n=10).rerank(DOCS, "x")] == list("bcad")
    assert [doc.id for doc in SBERTReranker(model=scorer, top_n=2).rerank(DOCS, "x")] == list("bc")


def test_threshold_filters_after_the_cut() -> None:
    reranker = SBERTReranker(model=OverlapScorer(), top_n=3, score_threshold=2.0)
    assert [doc.id for doc in reranker.rerank(DOCS, "dog cat park")] == ["c", "b"]
    assert SBERTReranker(model=OverlapScorer(), score_threshold=10).rerank(DOCS, "dog") == []


def test_per_call_top_n() -> None:
    reranker = SBERTReranker(model=OverlapScorer(), top_n=3)
    assert [doc.id for doc in reranker.rerank(DOCS, "dog cat park", top_n=1)] == ["c"]
    with pytest.raises(ConfigError, match="top_n must be a positive integer, found 0"):
        reranker.rerank(DOCS, "dog", top_n=0)


def test_empty_documents_return_empty_without_scoring() -> None:
    scorer = OverlapScorer()
    assert SBERTReranker(model=scorer).compress_documents([], "dog") == []
    assert scorer.calls == []


@pytest.mark.parametrize("top_n", [0, -1, True, 2.5])
def test_invalid_top_n_is_an_error_at_construction(top_n: object) -> None:
    with pytest.raises(ValidationError, match="top_n"):
        SBERTReranker(model=OverlapScorer(), top_n=top_n)  # type: ignore[arg-type]


def test_invalid_models_are_errors(tiny_encoder: SentenceEncoder) -> None:
    with pytest.raises(ValidationError, match="found int"):
        SBERTReranker(model=3)
    with pytest.raises(ValidationError, match="or both with a fusion_weight"):
        SBERTReranker(model=OverlapScorer(), encoder=tiny_encoder)
    with pytest.raises(ValidationError, match="pass model too"):
        SBERTReranker(encoder=tiny_encoder, fusion_weight=0.5)
    with pytest.raises(ValidationError, match="fusion_weight"):
        SBERTReranker(model=OverlapScorer(), encoder=tiny_encoder, fusion_weight=1.5)
    with pytest.raises(ValidationError, match="top_k"):
        SBERTReranker(top_k=3)  # type: ignore[call-arg]


def test_fusion_mixes_the_cross_encoder_with_the_bi_encoder(tiny_encoder: SentenceEncoder) -> None:
    query, texts = "the cat in the park", [d.page_content for d in DOCS]
    bi = SBERTReranker(encoder=tiny_encoder).score(query, texts)
    cross = SBERTReranker(model=OverlapScorer()).score(query, texts)
    mixed = SBERTReranker(model=OverlapScorer(), encoder=tiny_encoder, fusion_weight=0.3)
    np.testing.assert_allclose(mixed.score(query, texts), fuse_scores(bi, cross, 0.3), rtol=1e-6)
    ranked = mixed.rerank(DOCS, query, top_n=4)
    assert [d.metadata["relevance_score"] for d in ranked] == sorted(mixed.score(query, texts), reverse=True)
    only_cross = SBERTReranker(model=OverlapScorer(), encoder=tiny_encoder, fusion_weight=1.0)
    assert (
        np.argsort(only_cross.score(query, texts), kind="stable").tolist() == np.argsort(cross, kind="stable").tolist()
    )


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.zeros(3), r"shape \(3,\) for 4 pairs"),
        (np.zeros((4, 2)), r"shape \(4, 2\) for 4 pairs"),
        (np.array([1.0, np.nan, 0.0, 0.0]), "returned nan for the pair at index 1"),
    ],
)
def test_bad_scorer_output_is_an_error(output: np.ndarray, message: str) -> None:
    with pytest.raises(IntegrationError, match=message):
        SBERTReranker(model=FixedScorer(output)).rerank(DOCS, "dog")


def test_column_scores_are_accepted() -> None:
    ranked = SBERTReranker(model=FixedScorer(np.array([[0.1], [0.9], [0.5], [0.2]])), top_n=2).rerank(DOCS, "x")
    assert [doc.id for doc in ranked] == ["b", "c"]


def test_bi_encoder_scores_equal_the_encoder_similarity(tiny_encoder: SentenceEncoder) -> None:
    reranker = SBERTReranker(encoder=tiny_encoder, top_n=4)
    query = "a dog in the park"
    ranked = reranker.rerank(DOCS, query)
    expected = tiny_encoder.similarity(
        tiny_encoder.encode_queries([query]), tiny_encoder.encode_documents([d.page_content for d in DOCS])
    )[0].numpy()
    by_id = {doc.id: doc.metadata["relevance_score"] for doc in ranked}
    np.testing.assert_allclose([by_id[doc.id] for doc in DOCS], expected, rtol=0, atol=1e-6)
    assert [doc.metadata["relevance_score"] for doc in ranked] == sorted(by_id.values(), reverse=True)


def test_bi_encoder_scorer_handles_several_queries(tiny_encoder: SentenceEncoder) -> None:
    pairs = [("dog", "a dog runs"), ("cat", "a cat sits"), ("dog", "bread"), ("cat", "a dog runs")]
    scores = BiEncoderScorer(tiny_encoder).predict(pairs, batch_size=2)
    for (query, text), score in zip(pairs, scores, strict=True):
        single = tiny_encoder.similarity(tiny_encoder.encode_queries([query]), tiny_encoder.encode_documents([text]))
        assert score == pytest.approx(float(single[0, 0]), abs=1e-6)
    assert BiEncoderScorer(tiny_encoder).predict([]).shape == (0,)


def test_shares_the_encoder_of_the_embeddings(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    reranker = SBERTReranker(encoder=embeddings.encoder)
    assert isinstance(reranker.scorer, BiEncoderScorer) and reranker.scorer.encoder is tiny_encoder


@pytest.mark.asyncio
async def test_async_compress_equals_sync() -> None:
    reranker = SBERTReranker(model=OverlapScorer(), top_n=3)
    assert await reranker.acompress_documents(DOCS, "dog cat park") == reranker.compress_documents(DOCS, "dog cat park")


# ---- the cross-encoder path --------------------------------------------------------------------


def test_a_path_is_loaded_as_a_cross_encoder_on_first_use(tmp_path: Path) -> None:
    folder = build_tiny_classifier(tmp_path / "cross")
    reranker = SBERTReranker(model=folder, top_n=4)
    assert reranker._scorer is None  # nothing loaded by the constructor
    ranked = reranker.rerank(DOCS, "a dog in the park")
    assert isinstance(reranker.scorer, CrossEncoder)
    expected = CrossEncoder(folder).predict([("a dog in the park", doc.page_content) for doc in DOCS])
    by_id = {doc.id: doc.metadata["relevance_score"] for doc in ranked}
    np.testing.assert_allclose([by_id[doc.id] for doc in DOCS], np.asarray(expected).reshape(-1), rtol=0, atol=1e-6)
    assert [doc.metadata["relevance_score"] for doc in ranked] == sorted(by_id.values(), reverse=True)


# ---- RerankingRetriever ------------------------------------------------------------------------


@pytest.fixture()
def store(tiny_encoder: SentenceEncoder) -> InMemoryVectorStore:
    store = InMemoryVectorStore(SBERTEmbeddings(model=tiny_encoder))
    store.add_documents(DOCS)
    return store


def test_fetch_k_goes_to_a_copy_of_the_base_retriever(store: InMemoryVectorStore) -> None:
    scorer = OverlapScorer()
    base = store.as_retriever(search_kwargs={"k": 1})
    retriever = RerankingRetriever(base_retriever=base, reranker=SBERTReranker(model=scorer), fetch_k=3, k=2)
    docs = retriever.invoke("dog cat park")
    assert len(scorer.calls[0][0]) == 3  # three candidates fetched although the base says k=1
    assert base.search_kwargs == {"k": 1}  # the caller's retriever is unchanged
    assert len(docs) == 2 and all("relevance_score" in doc.metadata for doc in docs)
    assert [doc.metadata["relevance_score"] for doc in docs] == sorted(
        (doc.metadata["relevance_score"] for doc in docs), reverse=True
    )


def test_retriever_without_search_kwargs_is_sliced() -> None:
    scorer = OverlapScorer()
    retriever = RerankingRetriever(
        base_retriever=ListRetriever(documents=DOCS), reranker=SBERTReranker(model=scorer), fetch_k=3, k=2
    )
    docs = retriever.invoke("dog cat park")
    assert [pair[1] for pair in scorer.calls[0][0]] == [doc.page_content for doc in DOCS[:3]]
    assert [doc.id for doc in docs] == ["c", "b"]


def test_k_per_call_and_its_validation() -> None:
    retriever = RerankingRetriever(
        base_retriever=ListRetriever(documents=DOCS), reranker=SBERTReranker(model=OverlapScorer()), fetch_k=2, k=1
    )
    assert len(retriever.invoke("dog cat park")) == 1
    assert len(retriever.invoke("dog cat park", k=2)) == 2
    assert len(retriever.invoke("dog cat park", k=4)) == 4  # more than fetch_k: fetches k candidates
    with pytest.raises(ConfigError, match="k must be a positive integer, found 0"):
        retriever.invoke("dog", k=0)


def test_other_call_arguments_reach_the_base_retriever(store: InMemoryVectorStore) -> None:
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(), reranker=SBERTReranker(model=OverlapScorer()), fetch_k=4, k=4
    )
    docs = retriever.invoke("dog", filter=lambda doc: doc.metadata["source"] in {"a", "d"})
    assert sorted(doc.id for doc in docs) == ["a", "d"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 5, "fetch_k": 4}, "k=5 is larger than fetch_k=4"),
        ({"k": 0}, r"k\n\s+Input should be greater than 0"),
        ({"top_n": 2}, r"top_n\n\s+Extra inputs are not permitted"),
    ],
)
def test_invalid_retriever_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RerankingRetriever(
            base_retriever=ListRetriever(documents=DOCS), reranker=SBERTReranker(model=OverlapScorer()), **kwargs
        )


@pytest.mark.asyncio
async def test_async_equals_sync(store: InMemoryVectorStore, tiny_encoder: SentenceEncoder) -> None:
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(), reranker=SBERTReranker(encoder=tiny_encoder), fetch_k=4, k=2
    )
    sync_docs = retriever.invoke("a dog in the park", k=3)
    async_docs = await retriever.ainvoke("a dog in the park", k=3)
    assert [d.id for d in async_docs] == [d.id for d in sync_docs]
    np.testing.assert_allclose(
        [d.metadata["relevance_score"] for d in async_docs],
        [d.metadata["relevance_score"] for d in sync_docs],
        atol=1e-6,
    )


def test_a_model_that_cannot_be_found_is_an_error_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="could not find model"):
        SBERTReranker(model=str(tmp_path / "no-such-reranker"), top_n=4)
