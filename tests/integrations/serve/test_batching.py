"""Dynamic batching under concurrency, the bounded queue (503 + Retry-After) and draining."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from integrations.serve import ServeSettings
from sbert_plugins import SentenceEncoder
from tests.integrations.serve.conftest import MODEL_ID, PROMPTS, RunningServer, running

WORDS = "a man woman child dog cat plays guitar piano runs in the park with red blue ball".split()  # noqa: SIM905


def _text(seed: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, size=int(rng.integers(1, 60))))


def _post(url: str, texts: list[str], kind: str = "document") -> httpx.Response:
    body = {"model": MODEL_ID, "input": texts, "encoding_format": "float", "input_type": kind}
    return httpx.post(url + "/v1/embeddings", json=body, timeout=60)


def _rows(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array([item["embedding"] for item in response.json()["data"]])


def test_64_concurrent_clients_get_their_own_rows_in_shared_batches(
    server: RunningServer, encoder: SentenceEncoder
) -> None:
    requests = [
        ([_text(10 * i + j) for j in range(1 + i % 3)], "query" if i % 4 == 0 else "document") for i in range(64)
    ]
    batches_before = server.metric("sbert_batch_texts_count", kind="document")
    batches_before += server.metric("sbert_batch_texts_count", kind="query")
    texts_before = server.metric("sbert_batch_texts_sum", kind="document")
    texts_before += server.metric("sbert_batch_texts_sum", kind="query")

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/embeddings",
                        json={"model": MODEL_ID, "input": texts, "encoding_format": "float", "input_type": kind},
                    )
                    for texts, kind in requests
                )
            )

    responses = asyncio.run(send_all())
    for (texts, kind), response in zip(requests, responses, strict=True):
        expected = encoder.encode_queries(texts) if kind == "query" else encoder.encode_documents(texts)
        np.testing.assert_allclose(_rows(response), expected, atol=1e-5)

    batches = server.metric("sbert_batch_texts_count", kind="document") + server.metric(
        "sbert_batch_texts_count", kind="query"
    )
    texts = server.metric("sbert_batch_texts_sum", kind="document") + server.metric(
        "sbert_batch_texts_sum", kind="query"
    )
    assert texts - texts_before == sum(len(t) for t, _ in requests)
    assert batches - batches_before < len(requests) / 2  # on average more than two requests per batch
    exposition = httpx.get(server.url + "/metrics").text
    assert 'sbert_batch_tokens_count{kind="document"}' in exposition
    assert "sbert_queued_texts 0.0" in exposition
    assert 'sbert_requests_total{endpoint="/v1/embeddings",status="200"}' in exposition


def test_full_queue_answers_503_and_the_queued_requests_still_succeed(tiny_model_dir: Path) -> None:
    encoder = SentenceEncoder(tiny_model_dir, device="cpu", prompts=PROMPTS)
    first, second = ["held in the forward pass"], [_text(i) for i in range(4)]
    expected_first, expected_second = encoder.encode_documents(first), encoder.encode_documents(second)
    entered, release = threading.Event(), threading.Event()

    def hold(module: Any, args: Any) -> None:
        entered.set()
        release.wait(timeout=30)

    settings = ServeSettings(
        model_id=MODEL_ID, max_inputs_per_request=4, max_queued_texts=4, max_wait_ms=0, retry_after_s=3
    )
    with running(encoder, settings) as server, ThreadPoolExecutor(2) as pool:
        handle = encoder.register_forward_pre_hook(hold)
        try:
            held = pool.submit(_post, server.url, first)
            assert entered.wait(timeout=30)  # the first request is being encoded
            queued = pool.submit(_post, server.url, second)
            deadline = time.monotonic() + 30
            while server.metric("sbert_queued_texts") < 4:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            refused = _post(server.url, ["one text too many"])
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "3"
            assert refused.json()["error"]["code"] == "queue_full"
            assert refused.json()["error"]["type"] == "overloaded_error"
        finally:
            release.set()
            handle.remove()
        np.testing.assert_allclose(_rows(held.result()), expected_first, atol=1e-5)
        np.testing.assert_allclose(_rows(queued.result()), expected_second, atol=1e-5)


def test_a_request_that_breaks_the_model_fails_alone(tiny_model_dir: Path) -> None:
    encoder = SentenceEncoder(tiny_model_dir, device="cpu")
    poison = encoder.tokenizer.convert_tokens_to_ids("moon")

    def refuse_the_moon(module: Any, args: Any) -> None:
        if (args[0]["input_ids"] == poison).any():
            raise RuntimeError("the model cannot read this text")

    texts = [[_text(i)] for i in range(7)] + [["the moon"]]
    expected = [encoder.encode_documents(request) for request in texts[:-1]]
    encoder.register_forward_pre_hook(refuse_the_moon)
    with running(encoder, ServeSettings(model_id=MODEL_ID, max_wait_ms=50)) as server, ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda request: _post(server.url, request), texts))
    for response, rows in zip(responses, expected, strict=False):
        np.testing.assert_allclose(_rows(response), rows, atol=1e-5)
    assert responses[-1].status_code == 500
    error = responses[-1].json()["error"]
    assert error["type"] == "server_error" and "RuntimeError" in error["message"]


def test_a_draining_server_answers_503(server: RunningServer) -> None:
    server.app.state.serving.draining = True
    try:
        refused = _post(server.url, ["late"])
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "shutting_down"
        assert refused.headers["retry-after"] == "1"
        assert httpx.get(server.url + "/health").status_code == 503
    finally:
        server.app.state.serving.draining = False
    assert _post(server.url, ["back"]).status_code == 200
