"""Servers for the tests: the real application under uvicorn in a thread, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi import FastAPI

from integrations.serve import ServeSettings, create_app, serve_in_thread
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder

PROMPTS = {"query": "query: ", "document": "passage: "}
MODEL_ID = "tiny"


class RunningServer:
    """A server started by :func:`running`: its base ``url`` and its app."""

    def __init__(self, url: str, app: FastAPI) -> None:
        self.url = url
        self.app = app

    def metric(self, name: str, **labels: str) -> float:
        """The current value of a Prometheus sample (0.0 when it has not been recorded yet)."""
        value = self.app.state.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else float(value)


@contextmanager
def running(
    encoder: SentenceEncoder, settings: ServeSettings, *, cross_encoder: CrossEncoder | None = None
) -> Iterator[RunningServer]:
    """Serve ``encoder`` on a free loopback port in a thread; drain on exit."""
    app = create_app(encoder, settings, cross_encoder=cross_encoder)
    with serve_in_thread(app) as url:
        yield RunningServer(url, app)


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
        max_tokens_per_batch=256,  # several forward passes per gathered batch
    )


@pytest.fixture(scope="module")
def server(encoder: SentenceEncoder, limits: ServeSettings) -> Iterator[RunningServer]:
    """One server shared by a test module."""
    with running(encoder, limits) as started:
        yield started
