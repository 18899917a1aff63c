"""Fixtures for the ingestor tests: a real Chroma server (started from the chromadb package) and corpora."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

HEARTBEAT = "/api/v2/heartbeat"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_binary() -> str:
    """The ``chroma`` command installed with chromadb next to this Python (skips when absent)."""
    pytest.importorskip("chromadb")
    candidate = Path(sys.executable).parent / "chroma"
    found = str(candidate) if candidate.exists() else shutil.which("chroma")
    if found is None:
        pytest.skip("the chroma command (from the chromadb package) is not installed")
    return found


class ChromaServer:
    """A ``chroma run`` process on loopback: start, wait for its heartbeat, stop, start again."""

    def __init__(self, path: Path, port: int, log: Path) -> None:
        self.path, self.port, self.log = path, port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        command = [chroma_binary(), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + HEARTBEAT, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma did not answer {HEARTBEAT} within {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def start_chroma(root: Path) -> ChromaServer:
    root.mkdir(parents=True, exist_ok=True)
    server = ChromaServer(root / "data", free_port(), root / "chroma.log")
    server.start()
    return server


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Chroma server for the session: ``$CHROMA_SERVER_URL`` if set, else one started here."""
    external = os.environ.get("CHROMA_SERVER_URL")
    if external:
        yield external
        return
    server = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A Chroma server of the test's own (for tests that stop and restart it)."""
    server = start_chroma(tmp_path / "chroma-server")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_splade_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SPLADE folder (MLM head on the tiny BERT's tied embeddings, max pooling, relu) built once per session."""
    sparse = pytest.importorskip("sbert_plugins.sparse")
    folder = tmp_path_factory.mktemp("tiny-splade") / "model"
    torch.manual_seed(0)  # the MLM head's transform is initialised fresh
    sparse.SparseEncoder.from_transformer(tiny_model_dir, device="cpu").save(folder)
    return folder
