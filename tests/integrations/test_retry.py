"""Retries: the backoff policy, which errors are transient, and the wrapper against a real HTTP server.

The HTTP server here belongs to the tests: it refuses, stalls or answers 503 so that the retry wrapper
meets real sockets and real client exceptions. It is not a stand-in for Qdrant.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pydantic
import pytest

from integrations._retry import RetryError, RetryPolicy, call_with_retry, is_transient
from sbert_plugins.errors import IntegrationError
from tests.integrations.conftest import free_port
from tests.integrations.corpus import make_docs

FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.02)


def test_policy_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, initial_delay=0.5, multiplier=2.0, max_delay=3.0)
    assert list(policy.delays()) == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert list(RetryPolicy(attempts=1).delays()) == []


def test_policy_is_validated_and_round_trips_json() -> None:
    with pytest.raises(pydantic.ValidationError):
        RetryPolicy(attempts=0)
    with pytest.raises(pydantic.ValidationError):
        RetryPolicy(atempts=3)  # type: ignore[call-arg]
    policy = RetryPolicy(attempts=4, initial_delay=0.25)
    assert RetryPolicy.model_validate_json(policy.model_dump_json()) == policy


class _Status(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def _wrapped(inner: BaseException) -> Exception:
    try:
        raise inner
    except BaseException as exc:
        try:
            raise RuntimeError("client failed") from exc
        except RuntimeError as outer:
            return outer


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(111, "Connection refused"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (_Status(503), True),
        (_Status(500), True),
        (_Status(429), True),
        (_Status(400), False),
        (_Status(404), False),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("server hung up"), True),
        (httpx.HTTPStatusError("bad", request=httpx.Request("GET", "http://x"), response=httpx.Response(502)), True),
        (httpx.HTTPStatusError("bad", request=httpx.Request("GET", "http://x"), response=httpx.Response(422)), False),
        (ValueError("dimension mismatch"), False),
        (_wrapped(ConnectionRefusedError()), True),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_vendor_exceptions_are_classified() -> None:
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    assert is_transient(UnexpectedResponse(503, "Service Unavailable", b"", httpx.Headers()))
    assert not is_transient(UnexpectedResponse(400, "Bad Request", b"", httpx.Headers()))
    assert is_transient(ResponseHandlingException(httpx.ConnectError("refused")))
    chroma_errors = pytest.importorskip("chromadb.errors")
    assert is_transient(chroma_errors.InternalError("boom"))
    assert not is_transient(chroma_errors.InvalidArgumentError("bad dimension"))


def test_an_error_raised_while_handling_a_timeout_is_not_transient() -> None:
    try:
        try:
            raise TimeoutError
        except TimeoutError:
            raise ValueError("bug in the handler")  # noqa: B904 (the implicit context is the point)
    except ValueError as exc:
        assert not is_transient(exc)


def test_call_with_retry_backs_off_then_succeeds() -> None:
    calls, waits = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "ok"

    policy = RetryPolicy(attempts=5, initial_delay=0.5)
    assert call_with_retry(flaky, policy, what="test call", sleep=waits.append) == "ok"
    assert len(calls) == 3 and waits == [0.5, 1.0]


def test_call_with_retry_gives_up_with_the_last_error() -> None:
    waits: list[float] = []
    with pytest.raises(RetryError, match=r"test call failed 3 times .*TimeoutError") as info:
        call_with_retry(lambda: (_ for _ in ()).throw(TimeoutError("slow")), FAST, what="test call", sleep=waits.append)
    assert info.value.attempts == 3 and isinstance(info.value.last_error, TimeoutError)
    assert isinstance(info.value, IntegrationError) and len(waits) == 2


def test_call_with_retry_does_not_retry_other_errors() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        call_with_retry(broken, FAST, what="x", sleep=lambda _: None)
    assert calls == [1]


# ---- against a real socket -------------------------------------------------------------------


class _Server:
    """A loopback HTTP server that answers by script: ``"503"``, ``"400"``, ``"slow"`` or ``"ok"``."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.default = "503"
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                server.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                action = server.script.pop(0) if server.script else server.default
                if action == "slow":
                    time.sleep(1.5)
                    action = "503"
                status = {"503": 503, "400": 400, "ok": 200}[action]
                body = (
                    {"status": "ok", "time": 0.0, "result": {"exists": True}}
                    if status == 200
                    else {"status": {"error": action}}
                )
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            do_GET = do_POST = do_PUT = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def http_server() -> Iterator[_Server]:
    server = _Server()
    yield server
    server.close()


def _qdrant_client(url: str, timeout: int = 5) -> Any:
    from qdrant_client import QdrantClient

    return QdrantClient(url=url, timeout=timeout, check_compatibility=False)


def test_qdrant_client_503_is_retried_until_it_gives_up(http_server: _Server) -> None:
    client = _qdrant_client(http_server.url)
    with pytest.raises(RetryError, match="failed 3 times") as info:
        call_with_retry(lambda: client.collection_exists("c"), FAST, what="checking")
    assert len(http_server.requests) == 3
    assert "503" in str(info.value.last_error)


def test_qdrant_client_recovers_after_two_503(http_server: _Server) -> None:
    http_server.script = ["503", "503", "ok"]
    client = _qdrant_client(http_server.url)
    assert call_with_retry(lambda: client.collection_exists("c"), FAST, what="checking") is True
    assert http_server.requests == ["GET /collections/c/exists"] * 3


def test_qdrant_client_400_is_not_retried(http_server: _Server) -> None:
    http_server.default = "400"
    client = _qdrant_client(http_server.url)
    with pytest.raises(Exception, match="400"):
        call_with_retry(lambda: client.collection_exists("c"), FAST, what="checking")
    assert len(http_server.requests) == 1


def test_qdrant_client_timeout_is_retried(http_server: _Server) -> None:
    http_server.script = ["slow", "ok"]
    client = _qdrant_client(http_server.url, timeout=1)
    assert call_with_retry(lambda: client.collection_exists("c"), FAST, what="checking") is True
    assert len(http_server.requests) == 2


def test_qdrant_client_connection_refused_is_retried() -> None:
    client = _qdrant_client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryError, match="failed 3 times") as info:
        call_with_retry(lambda: client.collection_exists("c"), FAST, what="checking")
    assert is_transient(info.value.last_error)


def test_ingestor_reports_nothing_written_when_the_server_keeps_failing(
    http_server: _Server, tiny_encoder: Any
) -> None:
    from integrations.qdrant import QdrantIngestor

    ingestor = QdrantIngestor(tiny_encoder, "c", client=_qdrant_client(http_server.url), retry=FAST)
    with pytest.raises(IntegrationError, match=r"(?i)0 documents were written.*run the same ingest again"):
        ingestor.ingest(make_docs(5), show_progress=False)
    assert len(http_server.requests) == 3  # the first call, retried, then the ingest stopped
