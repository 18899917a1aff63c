"""The ASGI middleware in front of every route: shutdown refusal, API key, body size, request metrics.

Written as plain ASGI (no per-request task or body copy), as it runs on every request.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from integrations.serve.metrics import ServerMetrics
from integrations.serve.protocol import ApiError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})
"""Paths answered without an API key."""
ENDPOINTS = frozenset({"/v1/embeddings", "/v1/models", "/rerank", "/embed_sparse", "/health", "/metrics"})
"""Paths with their own metric label; every other path is counted as ``other``."""


@dataclass
class ServingState:
    """What the gate knows about the server: set ``draining`` when shutdown begins."""

    draining: bool = False


class BodyTooLargeError(ApiError):
    """The request body is larger than the server takes."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than {limit} bytes: send fewer or shorter texts", code="body_too_large"
        )


class Gate:
    """Refuses requests while draining (503), without the API key (401) or with a body over the limit
    (413), and records every request's status and latency.

    Args:
        app: the application behind the gate.
        state: the shared :class:`ServingState`.
        metrics: where requests are recorded.
        api_key: the key clients must send as ``Authorization: Bearer <key>`` (``None``: no key needed),
            compared in constant time.
        max_request_bytes: the largest request body accepted.
        retry_after_s: the ``Retry-After`` sent while draining.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: ServingState,
        metrics: ServerMetrics,
        api_key: SecretStr | None,
        max_request_bytes: int,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics
        self._key = api_key.get_secret_value().encode("utf-8") if api_key is not None else None
        self.max_request_bytes = max_request_bytes
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in ENDPOINTS else "other"
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await send_error(refusal, send_and_note)
            else:
                await self.app(scope, self._limited(receive), send_and_note)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.observe_request(endpoint, status, time.perf_counter() - start)

    def _refusal(self, scope: MutableMapping[str, Any]) -> ApiError | None:
        if self.state.draining:
            return ApiError(
                503,
                "the server is shutting down; retry on another instance or later",
                type="overloaded_error",
                code="shutting_down",
                headers={"Retry-After": str(self.retry_after_s), "Connection": "close"},
            )
        headers = dict(scope["headers"])
        if self._key is not None and scope["path"] not in OPEN_PATHS and not self._authorised(headers):
            return ApiError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                type="authentication_error",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_request_bytes:
            return BodyTooLargeError(self.max_request_bytes)
        return None

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        key = self._key or b""
        # compare_digest takes time independent of where the first difference is, so timing tells
        # nothing about the key; the scheme is not secret.
        return hmac.compare_digest(given.strip(), key) and scheme.lower() == b"bearer"

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that raises :class:`BodyTooLargeError` once the body passes the limit (bodies sent
        without a Content-Length, in chunks)."""
        received = 0
        limit = self.max_request_bytes

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        return limited


async def send_error(error: ApiError, send: Send) -> None:
    """Answer ``error`` as a JSON response in the OpenAI error schema."""
    body = error.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
