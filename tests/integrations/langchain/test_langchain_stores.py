"""End to end with real vector stores: langchain-qdrant (embedded ``:memory:``) and langchain-chroma
(embedded, in a temporary folder) as the base retriever of a RerankingRetriever."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

from integrations.langchain import BiEncoderScorer, RerankingRetriever, SBERTEmbeddings, SBERTReranker
from sbert_plugins import SentenceEncoder

langchain_qdrant = pytest.importorskip("langchain_qdrant")
langchain_chroma = pytest.importorskip("langchain_chroma")

CORPUS = [
    "A man is playing a guitar.",
    "A woman is playing the piano.",
    "A dog runs in the park.",
    "A cat sits on a chair.",
    "Two people eat bread in the kitchen.",
    "A child reads a book at night.",
    "A girl sings a song.",
    "The sun is over the city.",
]
DOCS = [Document(text, metadata={"row": row}) for row, text in enumerate(CORPUS)]


class RecordingScorer(BiEncoderScorer):
    """The bi-encoder scorer, remembering the candidate texts it was given."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        super().__init__(encoder)
        self.candidates: list[list[str]] = []

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        self.candidates.append([text for _, text in pairs])
        return super().predict(pairs, batch_size=batch_size)


def qdrant_store(embeddings: SBERTEmbeddings, tmp_path: Path) -> VectorStore:
    store: VectorStore = langchain_qdrant.QdrantVectorStore.from_documents(
        DOCS, embeddings, location=":memory:", collection_name="docs"
    )
    return store


def chroma_store(embeddings: SBERTEmbeddings, tmp_path: Path) -> VectorStore:
    from chromadb.config import Settings

    store: VectorStore = langchain_chroma.Chroma(
        collection_name="docs",
        embedding_function=embeddings,
        persist_directory=str(tmp_path / "chroma"),
        client_settings=Settings(anonymized_telemetry=False, is_persistent=True),
    )
    store.add_documents(DOCS)
    return store


STORES: dict[str, Callable[[SBERTEmbeddings, Path], VectorStore]] = {"qdrant": qdrant_store, "chroma": chroma_store}


def nearest(embeddings: SBERTEmbeddings, query: str, count: int) -> set[str]:
    """The ``count`` texts with the highest cosine similarity to ``query``, by brute force."""
    documents = np.array(embeddings.embed_documents(CORPUS))
    query_vector = np.array(embeddings.embed_query(query))
    scores = documents @ query_vector / np.linalg.norm(documents, axis=1) / np.linalg.norm(query_vector)
    return {CORPUS[i] for i in np.argsort(-scores)[:count]}


@pytest.mark.parametrize("store_name", sorted(STORES))
def test_add_search_rerank_with_the_tiny_model(store_name: str, prompted_model_dir: Path, tmp_path: Path) -> None:
    encoder = SentenceEncoder(prompted_model_dir, device="cpu")
    embeddings = SBERTEmbeddings(model=encoder, normalize=True)  # unit vectors: L2 (Chroma) ranks like cosine
    store = STORES[store_name](embeddings, tmp_path)
    scorer = RecordingScorer(encoder)
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(), reranker=SBERTReranker(model=scorer), fetch_k=5, k=3
    )
    query = "who plays music?"

    docs = retriever.invoke(query)

    assert set(scorer.candidates[0]) == nearest(embeddings, query, 5)  # the store searched our vectors
    assert len(docs) == 3
    scores = [doc.metadata["relevance_score"] for doc in docs]
    assert scores == sorted(scores, reverse=True)
    expected = BiEncoderScorer(encoder).predict([(query, doc.page_content) for doc in docs])
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)
    assert all(CORPUS[doc.metadata["row"]] == doc.page_content for doc in docs)  # metadata survived the store
    assert len(retriever.invoke(query, k=1)) == 1


@pytest.mark.parametrize("store_name", sorted(STORES))
@pytest.mark.asyncio
async def test_async_retrieval_equals_sync(store_name: str, tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder, normalize=True)
    store = STORES[store_name](embeddings, tmp_path)
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(), reranker=SBERTReranker(encoder=tiny_encoder), fetch_k=4, k=2
    )
    sync_docs = retriever.invoke("a dog in the park")
    async_docs = await retriever.ainvoke("a dog in the park")
    assert [doc.page_content for doc in async_docs] == [doc.page_content for doc in sync_docs]


def test_qdrant_stores_the_vectors_of_embed_documents(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    store = qdrant_store(embeddings, tmp_path)
    points, _ = store.client.scroll("docs", limit=len(CORPUS), with_vectors=True)  # type: ignore[attr-defined]
    stored = {point.payload["page_content"]: point.vector for point in points}
    expected = embeddings.embed_documents(CORPUS)
    for text, vector in zip(CORPUS, expected, strict=True):
        # Qdrant keeps cosine collections normalised.
        np.testing.assert_allclose(stored[text], np.array(vector) / np.linalg.norm(vector), rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("store_name", sorted(STORES))
def test_default_model_finds_the_right_passage(store_name: str, minilm_dir: Path, tmp_path: Path) -> None:
    embeddings = SBERTEmbeddings()
    store = STORES[store_name](embeddings, tmp_path)
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(),
        reranker=SBERTReranker(encoder=embeddings.encoder),
        fetch_k=4,
        k=2,
    )
    docs = retriever.invoke("Which animal is running outside?")
    assert docs[0].page_content == "A dog runs in the park."
    docs = retriever.invoke("Who is making music with an instrument?", k=1)
    assert docs[0].page_content in {"A man is playing a guitar.", "A woman is playing the piano."}
