"""The public langchain-tests standard suites, run against our adapters.

``EmbeddingsUnitTests`` runs with no constructor arguments (the default model; construction does not
load it). ``EmbeddingsIntegrationTests`` runs with the tiny model folder, and again with the packaged
all-MiniLM-L6-v2 (slow). ``RetrieversIntegrationTests`` runs a ``RerankingRetriever`` over an in-memory
vector store embedded by the tiny model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from integrations.langchain import RerankingRetriever, SBERTEmbeddings, SBERTReranker
from sbert_plugins import SentenceEncoder

CORPUS = [
    "A man is playing a guitar.",
    "A woman is playing the piano.",
    "A dog runs in the park.",
    "A cat sits on a chair.",
    "Two people eat bread in the kitchen.",
    "A child reads a book at night.",
]


class TestSBERTEmbeddingsUnit(EmbeddingsUnitTests):
    """No arguments: the default model, which the constructor does not load."""

    @property
    def embeddings_class(self) -> type[SBERTEmbeddings]:
        return SBERTEmbeddings


class TestSBERTEmbeddingsIntegrationTiny(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _model_folder(self, tiny_model_dir: Path) -> None:
        self.model_folder = tiny_model_dir

    @property
    def embeddings_class(self) -> type[SBERTEmbeddings]:
        return SBERTEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name": str(self.model_folder), "device": "cpu"}


@pytest.mark.slow
class TestSBERTEmbeddingsIntegrationDefault(EmbeddingsIntegrationTests):
    """The packaged all-MiniLM-L6-v2, through the no-argument default."""

    @pytest.fixture(autouse=True)
    def _needs_packaged_model(self, minilm_dir: Path) -> None:
        pass

    @property
    def embeddings_class(self) -> type[SBERTEmbeddings]:
        return SBERTEmbeddings


class TestRerankingRetrieverIntegration(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, tiny_model_dir: Path) -> None:
        encoder = SentenceEncoder(tiny_model_dir, device="cpu")
        self.encoder = encoder
        self.store = InMemoryVectorStore.from_texts(CORPUS, SBERTEmbeddings(model=encoder))

    @property
    def retriever_constructor(self) -> type[RerankingRetriever]:
        return RerankingRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {
            "base_retriever": self.store.as_retriever(search_kwargs={"k": 2}),
            "reranker": SBERTReranker(encoder=self.encoder),
            "fetch_k": 5,
            "k": 2,
        }

    @property
    def retriever_query_example(self) -> str:
        return "who is playing music?"
