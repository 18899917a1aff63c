"""``sbert-plugins serve`` as a process: the API key from the environment, and SIGTERM letting the
requests in flight finish while new ones are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from tests.integrations.conftest import free_port

KEY = "key-from-the-environment"


def _command() -> list[str]:
    script = Path(sys.executable).parent / "sbert-plugins"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sbert_plugins.cli"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_finishes_requests_in_flight(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {KEY}"}
    log = tmp_path / "serve.log"
    # A long batching wait keeps the request in flight while the signal arrives.
    command = [*_command(), "serve", "--model", str(tiny_model_dir), "--model-id", "tiny", "--port", str(port)]
    command += ["--max-wait-ms", "3000", "--device", "cpu", "--access-log"]
    env = {**os.environ, "SBERT_PLUGINS_API_KEY": KEY, "OMP_NUM_THREADS": "1"}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert httpx.get(url + "/v1/models").status_code == 401  # the key came from the environment

        body = {"model": "tiny", "input": ["still answered"], "encoding_format": "float"}
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.post, url + "/v1/embeddings", json=body, headers=auth, timeout=60)
            while "sbert_queued_texts 1.0" not in httpx.get(url + "/metrics", headers=auth).text:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            try:
                late = httpx.post(url + "/v1/embeddings", json=body, headers=auth, timeout=5)
                assert late.status_code == 503
            except httpx.TransportError:
                pass  # the listening socket is already closed: refused, as it should be
            response = in_flight.result()
        assert response.status_code == 200
        expected = SentenceEncoder(tiny_model_dir, device="cpu").encode_documents("still answered")
        np.testing.assert_allclose(response.json()["data"][0]["embedding"], expected, atol=1e-5)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "POST /v1/embeddings" in text  # the access log is on, and still
    assert KEY not in text
