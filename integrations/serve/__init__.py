"""An OpenAI-compatible HTTP server over one Sentence-BERT model: ``POST /v1/embeddings``,
``GET /v1/models``, ``POST /rerank``, ``POST /embed_sparse`` (with a learned sparse model, TEI's shape),
``GET /health`` and ``GET /metrics`` (Prometheus).

Texts of concurrent requests are gathered into the encoder's own token-budget batches; one model copy
serves every request, encoding off the event loop. Start it with ``sbert-plugins serve --model M`` or::

    from integrations.serve import ServeSettings, serve
    serve(ServeSettings(model="path/to/model", port=8080))

Needs FastAPI, uvicorn, prometheus-client and orjson: ``pip install "sbert-plugins[serve]"``.
"""

from __future__ import annotations

import importlib.util

from sbert_plugins.errors import missing_dependency

# Each module the server imports, and the package that provides it.
if (
    _missing := next(
        (
            package
            for module, package in (
                ("fastapi", "fastapi"),
                ("uvicorn", "uvicorn"),
                ("prometheus_client", "prometheus-client"),
                ("orjson", "orjson"),
            )
            if importlib.util.find_spec(module) is None
        ),
        None,
    )
) is not None:
    raise missing_dependency(_missing, "serve")

from integrations.serve.app import create_app, load_app
from integrations.serve.gate import ServingState
from integrations.serve.server import DrainingServer, build_server, serve, serve_in_thread
from integrations.serve.settings import API_KEY_ENV, ServeSettings

__all__ = [
    "API_KEY_ENV",
    "DrainingServer",
    "ServeSettings",
    "ServingState",
    "build_server",
    "create_app",
    "load_app",
    "serve",
    "serve_in_thread",
]
