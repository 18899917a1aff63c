"""Real clients against the server: the openai SDK, LangChain's OpenAIEmbeddings, Haystack's
OpenAITextEmbedder; every embedding within 1e-5 of SentenceEncoder.encode_documents / encode_queries."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from tests.integrations.serve.conftest import MODEL_ID, RunningServer

openai = pytest.importorskip("openai")

TEXTS = ["a man plays the guitar", "two dogs run in the park", "the sun is a star", "hello world"]


def _openai(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def test_openai_sdk_gets_document_embeddings(server: RunningServer, encoder: SentenceEncoder) -> None:
    with _openai(server) as client:
        response = client.embeddings.create(model=MODEL_ID, input=TEXTS)  # the SDK asks for base64
    got = np.array([row.embedding for row in response.data])
    np.testing.assert_allclose(got, encoder.encode_documents(TEXTS), atol=1e-5)
    assert [row.index for row in response.data] == [0, 1, 2, 3]
    tokens = sum(len(ids) for ids in encoder.transformer.token_ids(TEXTS))
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens
    assert response.model == MODEL_ID


def test_openai_sdk_float_format_single_string_and_query_side(server: RunningServer, encoder: SentenceEncoder) -> None:
    with _openai(server) as client:
        single = client.embeddings.create(model=MODEL_ID, input=TEXTS[0], encoding_format="float")
        queries = client.embeddings.create(model=MODEL_ID, input=TEXTS, extra_body={"input_type": "query"})
    np.testing.assert_allclose(single.data[0].embedding, encoder.encode_documents(TEXTS[0]), atol=1e-5)
    expected_queries = encoder.encode_queries(TEXTS)
    np.testing.assert_allclose([row.embedding for row in queries.data], expected_queries, atol=1e-5)
    assert np.abs(expected_queries - encoder.encode_documents(TEXTS)).max() > 1e-3  # the prompts matter


def test_dimensions_truncate_like_truncate_dim(server: RunningServer, encoder: SentenceEncoder) -> None:
    with _openai(server) as client:
        response = client.embeddings.create(model=MODEL_ID, input=TEXTS, dimensions=8)
    got = np.array([row.embedding for row in response.data])
    assert got.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(got, encoder.encode_documents(TEXTS, truncate_dim=8), atol=1e-5)


def test_base64_is_little_endian_float32(server: RunningServer, encoder: SentenceEncoder) -> None:
    body = {"model": MODEL_ID, "input": TEXTS[:2], "encoding_format": "base64", "dimensions": 5}
    response = httpx.post(server.url + "/v1/embeddings", json=body)
    assert response.status_code == 200
    rows = [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in response.json()["data"]]
    np.testing.assert_allclose(np.stack(rows), encoder.encode_documents(TEXTS[:2], truncate_dim=5), atol=1e-5)


def test_models_lists_the_served_model(server: RunningServer, encoder: SentenceEncoder) -> None:
    with _openai(server) as client:
        models = client.models.list()
    (model,) = models.data
    assert model.id == MODEL_ID
    assert model.model_extra["embedding_dim"] == encoder.embedding_dim
    assert model.model_extra["prompts"] == ["document", "query"]


def test_langchain_openai_embeddings(server: RunningServer, encoder: SentenceEncoder) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    documents = langchain_openai.OpenAIEmbeddings(
        base_url=server.url + "/v1", model=MODEL_ID, api_key="unused", check_embedding_ctx_length=False
    )
    queries = langchain_openai.OpenAIEmbeddings(
        base_url=server.url + "/v1",
        model=MODEL_ID,
        api_key="unused",
        check_embedding_ctx_length=False,
        model_kwargs={"extra_body": {"input_type": "query"}},
    )
    np.testing.assert_allclose(documents.embed_documents(TEXTS), encoder.encode_documents(TEXTS), atol=1e-5)
    np.testing.assert_allclose(queries.embed_query(TEXTS[1]), encoder.encode_queries(TEXTS[1]), atol=1e-5)


def test_haystack_openai_text_embedder(server: RunningServer, encoder: SentenceEncoder) -> None:
    pytest.importorskip("haystack")
    from haystack.components.embedders import OpenAITextEmbedder
    from haystack.utils import Secret

    embedder = OpenAITextEmbedder(
        api_key=Secret.from_token("unused"), model=MODEL_ID, api_base_url=server.url + "/v1", max_retries=0
    )
    result = embedder.run(text=TEXTS[2])
    np.testing.assert_allclose(result["embedding"], encoder.encode_documents(TEXTS[2]), atol=1e-5)
    assert result["meta"]["model"] == MODEL_ID
