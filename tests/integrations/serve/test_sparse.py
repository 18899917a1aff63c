"""``POST /embed_sparse`` (serve --sparse-model): TEI's shape, the model's query and document sides, shared
batches under concurrency, and the documented errors; with a real HTTP client on a loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.learned_sparse import LearnedSparseEncoder
from integrations.serve import ServeSettings, create_app, load_app, serve_in_thread
from sbert_plugins import SentenceEncoder
from sbert_plugins.sparse import SparseEncoder
from tests.integrations.corpus import make_text
from tests.integrations.serve.conftest import MODEL_ID, PROMPTS, RunningServer

SPARSE_ID = "tiny-splade"


@pytest.fixture(scope="module")
def splade(tiny_splade_dir: Path) -> LearnedSparseEncoder:
    """The tiny SPLADE with a query and a document prompt, so the two sides differ."""
    return LearnedSparseEncoder(SparseEncoder(tiny_splade_dir, device="cpu", prompts=PROMPTS))


@pytest.fixture(scope="module")
def sparse_server(encoder: SentenceEncoder, splade: LearnedSparseEncoder) -> Iterator[RunningServer]:
    settings = ServeSettings(model_id=MODEL_ID, sparse_model_id=SPARSE_ID, max_inputs_per_request=32, max_wait_ms=20)
    app = create_app(encoder, settings, sparse_encoder=splade)
    with serve_in_thread(app) as url:
        yield RunningServer(url, app)


def as_pairs(vector: Any) -> list[tuple[int, float]]:
    return list(zip(map(int, vector.indices), map(float, vector.values), strict=True))


def check_rows(rows: list[list[dict[str, Any]]], expected: list[Any]) -> None:
    assert len(rows) == len(expected)
    for row, vector in zip(rows, expected, strict=True):
        assert [item["index"] for item in row] == [i for i, _ in as_pairs(vector)]
        assert [item["value"] for item in row] == pytest.approx([v for _, v in as_pairs(vector)], abs=1e-5)


def test_documents_and_queries_get_the_models_vectors(
    sparse_server: RunningServer, splade: LearnedSparseEncoder
) -> None:
    texts = [make_text(i) for i in range(5)]
    response = httpx.post(sparse_server.url + "/embed_sparse", json={"inputs": texts})
    assert response.status_code == 200, response.text
    check_rows(response.json(), splade.encode_documents(texts))
    query = httpx.post(
        sparse_server.url + "/embed_sparse", json={"inputs": texts[0], "input_type": "query", "model": SPARSE_ID}
    )
    assert query.status_code == 200, query.text
    check_rows(query.json(), [splade.encode_query(texts[0])])
    assert query.json()[0] != response.json()[0]  # the prompts differ
    models = httpx.get(sparse_server.url + "/v1/models").json()["data"]
    assert [m["id"] for m in models] == [MODEL_ID, SPARSE_ID]


def test_concurrent_requests_share_batches(sparse_server: RunningServer, splade: LearnedSparseEncoder) -> None:
    requests = [[make_text(10 * i + j) for j in range(1 + i % 3)] for i in range(24)]
    before = sparse_server.metric("sbert_batch_texts_count", kind="sparse-document")

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=sparse_server.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/embed_sparse", json={"inputs": t}) for t in requests))

    for texts, response in zip(requests, asyncio.run(send_all()), strict=True):
        assert response.status_code == 200, response.text
        check_rows(response.json(), splade.encode_documents(texts))
    batches = sparse_server.metric("sbert_batch_texts_count", kind="sparse-document") - before
    assert 0 < batches < len(requests)  # requests were encoded together


def test_errors(sparse_server: RunningServer, encoder: SentenceEncoder) -> None:
    url = sparse_server.url + "/embed_sparse"
    cases = [
        ({"inputs": ["a dog"], "input_type": "passage"}, 400, "input_type"),
        ({"inputs": []}, 400, "empty"),
        ({"input": ["a dog"]}, 400, "inputs is required"),
        ({"inputs": ["a dog"], "model": MODEL_ID}, 404, SPARSE_ID),
        ({"inputs": ["x"] * 33}, 413, "at most 32"),
    ]
    for body, status, message in cases:
        response = httpx.post(url, json=body)
        assert response.status_code == status and message in response.json()["error"]["message"], body
    without = create_app(encoder, ServeSettings(model_id=MODEL_ID))
    with serve_in_thread(without) as plain:
        response = httpx.post(plain + "/embed_sparse", json={"inputs": ["a dog"]})
    assert response.status_code == 404 and "--sparse-model" in response.json()["error"]["message"]


def test_load_app_loads_the_named_sparse_model(tiny_model_dir: Path, tiny_splade_dir: Path) -> None:
    app = load_app(ServeSettings(model=tiny_model_dir, sparse_model=tiny_splade_dir, device="cpu"))
    with serve_in_thread(app) as url:
        response = httpx.post(url + "/embed_sparse", json={"inputs": ["a dog runs"]})
        models = httpx.get(url + "/v1/models").json()["data"]
    assert response.status_code == 200 and response.json()[0]
    assert models[-1]["id"] == str(tiny_splade_dir)
