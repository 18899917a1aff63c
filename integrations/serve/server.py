"""Run the application under uvicorn, with a graceful shutdown: on SIGTERM (or SIGINT) the server stops
accepting connections, answers requests that arrive meanwhile with 503, lets the requests in flight
finish (up to ``shutdown_timeout_s``), then exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from fastapi import FastAPI

from integrations.serve.app import load_app
from integrations.serve.gate import ServingState
from integrations.serve.settings import ServeSettings
from sbert_plugins.errors import IntegrationError


class DrainingServer(uvicorn.Server):
    """A ``uvicorn.Server`` that marks the app as draining as soon as shutdown is asked for.

    Args:
        config: the uvicorn configuration (its ``app`` is a FastAPI app made by
            :func:`~integrations.serve.app.create_app`).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        app = config.app
        self.serving: ServingState = app.state.serving if isinstance(app, FastAPI) else ServingState()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The signal handler: refuse new requests with 503, then uvicorn's own graceful exit."""
        self.serving.draining = True
        super().handle_exit(sig, frame)

    def drain(self) -> None:
        """Shut down as on SIGTERM, from code (e.g. a server run in a thread, where signals are not caught)."""
        self.serving.draining = True
        self.should_exit = True


def build_server(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    shutdown_timeout_s: int = 30,
    log_level: str = "info",
    access_log: bool = False,
) -> DrainingServer:
    """A :class:`DrainingServer` for ``app``; call ``.run()`` (blocks until shut down).

    Args:
        host: the interface to bind: ``127.0.0.1`` (default) is reachable from this machine only;
            ``0.0.0.0`` from everywhere (use an API key then).
        port: the TCP port (0: any free one).
        shutdown_timeout_s: how long requests in flight may take to finish after SIGTERM.
        log_level: uvicorn's log level.
        access_log: log one line per request (method, path, status; never headers, so never a key).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=shutdown_timeout_s,
        server_header=False,
    )
    return DrainingServer(config)


def serve(settings: ServeSettings, *, log_level: str = "info", access_log: bool = False) -> None:
    """Load the models ``settings`` names and serve them until SIGTERM or SIGINT (blocks).

    Raises:
        ModelNotFoundError, ConfigError: a model cannot be loaded or is unsuitable.
    """
    app = load_app(settings)
    server = build_server(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout_s=settings.shutdown_timeout_s,
        log_level=log_level,
        access_log=access_log,
    )
    server.run()


@contextmanager
def serve_in_thread(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 60.0) -> Iterator[str]:
    """Serve ``app`` from a background thread (tests, notebooks) and yield its base URL, e.g.
    ``http://127.0.0.1:PORT``; on exit, shut down as on SIGTERM and wait for the thread.

    Args:
        host: the interface to bind (default: loopback).
        port: the TCP port; 0 (default) takes a free one.
        timeout_s: how long starting may take.

    Raises:
        IntegrationError: the server did not start (e.g. the port is taken).
    """
    server = build_server(app, host=host, port=port, log_level="warning")
    thread = threading.Thread(target=server.run, name="sbert-plugins-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.drain()
            raise IntegrationError(f"the server did not start on {host}:{port} within {timeout_s:.0f} s")
        time.sleep(0.01)
    try:
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"
    finally:
        server.drain()
        thread.join(timeout=timeout_s)
