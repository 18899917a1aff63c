"""Every refusal has its documented status and an OpenAI-style error body; none of them harms the server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr, ValidationError

from integrations.serve import ServeSettings
from sbert_plugins import SentenceEncoder
from tests.integrations.serve.conftest import MODEL_ID, RunningServer, running

KEY = "s3cret-key-for-tests"


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": MODEL_ID, "input": []}, 400, "empty_input", "input"),
        ({"model": MODEL_ID, "input": ""}, 400, "empty_input", "input"),
        ({"model": MODEL_ID, "input": ["fine", ""]}, 400, "empty_input", "input"),
        ({"model": MODEL_ID}, 400, None, "input"),
        ({"model": MODEL_ID, "input": [1, 2, 3]}, 400, "token_ids_not_supported", "input"),
        ({"model": MODEL_ID, "input": [[1, 2], [3]]}, 400, "token_ids_not_supported", "input"),
        ({"model": MODEL_ID, "input": ["a", {"text": "b"}]}, 400, None, "input"),
        ({"model": "text-embedding-3-small", "input": "x"}, 404, "model_not_found", "model"),
        ({"model": MODEL_ID, "input": "x", "encoding_format": "int8"}, 400, None, "encoding_format"),
        ({"model": MODEL_ID, "input": "x", "dimensions": 33}, 400, None, "dimensions"),
        ({"model": MODEL_ID, "input": "x", "dimensions": 0}, 400, None, "dimensions"),
        ({"model": MODEL_ID, "input": "x", "input_type": "passage"}, 400, None, "input_type"),
        ({"model": MODEL_ID, "input": ["x"] * 65}, 413, "too_many_inputs", "input"),
        ({"model": MODEL_ID, "input": ["ok", "x" * 401]}, 413, "input_too_long", "input"),
    ],
)
def test_bad_embedding_requests(
    server: RunningServer, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    error = _error(httpx.post(server.url + "/v1/embeddings", json=body), status, code)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_token_ids_message_says_send_text(server: RunningServer) -> None:
    response = httpx.post(server.url + "/v1/embeddings", json={"model": MODEL_ID, "input": [101, 2023, 102]})
    assert "send text" in _error(response, 400)["message"]


def test_malformed_json_and_non_object_bodies(server: RunningServer) -> None:
    headers = {"content-type": "application/json"}
    for content in (b'{"model": "tiny", "input": ["a"', b"[1, 2]", b"\xff\xfe"):
        response = httpx.post(server.url + "/v1/embeddings", content=content, headers=headers)
        _error(response, 400, "invalid_json")


def test_body_over_the_limit_is_413_with_or_without_content_length(server: RunningServer) -> None:
    big = b'{"input": "' + b"x" * 70_000 + b'"}'
    _error(httpx.post(server.url + "/v1/embeddings", content=big), 413, "body_too_large")

    def chunks() -> Any:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    _error(httpx.post(server.url + "/v1/embeddings", content=chunks()), 413, "body_too_large")


def test_unknown_path_and_method(server: RunningServer) -> None:
    _error(httpx.post(server.url + "/v1/chat/completions", json={}), 404)
    _error(httpx.get(server.url + "/v1/embeddings"), 405)


def test_a_bad_request_does_not_affect_the_next(server: RunningServer, encoder: SentenceEncoder) -> None:
    _error(httpx.post(server.url + "/v1/embeddings", json={"model": MODEL_ID, "input": [1]}), 400)
    ok = httpx.post(
        server.url + "/v1/embeddings", json={"model": MODEL_ID, "input": ["a dog"], "encoding_format": "float"}
    )
    np.testing.assert_allclose(ok.json()["data"][0]["embedding"], encoder.encode_documents("a dog"), atol=1e-5)
    assert server.metric("sbert_errors_total", endpoint="/v1/embeddings", status="400") >= 1


# ---- API key -------------------------------------------------------------------------------------


def test_api_key_guards_every_endpoint_but_health(encoder: SentenceEncoder, caplog: pytest.LogCaptureFixture) -> None:
    settings = ServeSettings(model_id=MODEL_ID, api_key=SecretStr(KEY))
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    body = {"model": MODEL_ID, "input": "a cat"}
    caplog.set_level(logging.DEBUG)
    with running(encoder, settings) as server:
        embeddings = server.url + "/v1/embeddings"
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": KEY},
            {"Authorization": f"Basic {KEY}"},
        ):
            response = httpx.post(embeddings, json=body, headers=headers)
            error = _error(response, 401, "invalid_api_key")
            assert error["type"] == "authentication_error"
            assert response.headers["www-authenticate"] == "Bearer"
        for path in ("/v1/models", "/metrics"):
            _error(httpx.get(server.url + path), 401)
        good = {"Authorization": f"Bearer {KEY}"}
        assert httpx.post(embeddings, json=body, headers=good).status_code == 200
        assert httpx.get(server.url + "/metrics", headers=good).status_code == 200
        assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    assert KEY not in caplog.text


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="fusion_weight"):
        ServeSettings(fusion_weight=1.5)
    with pytest.raises(ValidationError, match="max_queued_texts"):
        ServeSettings(max_inputs_per_request=100, max_queued_texts=10)
    with pytest.raises(ValidationError, match="extra"):
        ServeSettings(max_input=3)  # type: ignore[call-arg]
    assert ServeSettings().host == "127.0.0.1"


def test_the_cli_refuses_bad_options(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sbert_plugins.cli import main

    assert main(["serve", "--model", str(tiny_model_dir), "--max-inputs", "0"]) == 2
    assert "max_inputs_per_request" in capsys.readouterr().err
