"""Servers for the tests: the real application under uvicorn in a thread, on a free loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from integrations.serve import DrainingServer, ServeSettings, build_server, create_app
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder

PROMPTS = {"query": "query: ", "document": "passage: "}
MODEL_ID = "tiny"


class RunningServer:
    """A server started by :func:`running`: its ``url``, its app and the uvicorn server."""

    def __init__(self, server: DrainingServer) -> None:
        self.server = server
        self.app = server.config.app
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def metric(self, name: str, **labels: str) -> float:
        """The current value of a Prometheus sample (0.0 when it has not been recorded yet)."""
        registry = self.app.state.metrics.registry
        value = registry.get_sample_value(name, labels)
        return 0.0 if value is None else float(value)


@contextmanager
def running(
    encoder: SentenceEncoder, settings: ServeSettings, *, cross_encoder: CrossEncoder | None = None
) -> Iterator[RunningServer]:
    """Serve ``encoder`` on a free loopback port (port 0: the OS picks) in a thread; drain on exit."""
    app = create_app(encoder, settings, cross_encoder=cross_encoder)
    server = build_server(app, host="127.0.0.1", port=0, log_level="warning")
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(server)
    finally:
        server.drain()
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path) -> SentenceEncoder:
    """The tiny model with a query and a document prompt, so the two sides embed differently."""
    return SentenceEncoder(tiny_model_dir, device="cpu", prompts=PROMPTS)


@pytest.fixture(scope="module")
def limits() -> ServeSettings:
    """The settings of the main test server: small limits, a generous batching wait."""
    return ServeSettings(
        model_id=MODEL_ID,
        max_inputs_per_request=64,
        max_chars_per_input=400,
        max_request_bytes=64_000,
        max_wait_ms=20,
    )


@pytest.fixture(scope="module")
def server(encoder: SentenceEncoder, limits: ServeSettings) -> Iterator[RunningServer]:
    """One server shared by a test module."""
    with running(encoder, limits) as started:
        yield started
