"""The server's encoding threads: one CPU fewer than the process may use, unless told otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from integrations.serve import ServeSettings
from integrations.serve import app as serve_app
from integrations.serve.cli import _settings, register
from sbert_plugins import SentenceEncoder
from sbert_plugins.device import NUM_THREADS_ENV


@pytest.mark.parametrize(("cpus", "threads"), [(1, 1), (2, 1), (16, 15)])
def test_by_default_one_cpu_is_left_to_answer_requests(
    cpus: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NUM_THREADS_ENV, raising=False)
    monkeypatch.setattr(serve_app, "available_cpus", lambda: cpus)
    assert serve_app.encoding_threads(ServeSettings()) == threads


def test_a_given_count_wins_and_the_variable_is_left_to_the_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NUM_THREADS_ENV, "3")
    assert serve_app.encoding_threads(ServeSettings(num_threads=5)) == 5
    assert serve_app.encoding_threads(ServeSettings()) is None
    with pytest.raises(ValidationError, match="num_threads"):
        ServeSettings(num_threads=0)


def test_load_app_and_the_cli_pass_the_count_to_the_encoder(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[SentenceEncoder] = []

    def encoder(*args: Any, **kwargs: Any) -> SentenceEncoder:
        built.append(SentenceEncoder(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(serve_app, "SentenceEncoder", encoder)
    serve_app.load_app(ServeSettings(model=tiny_model_dir, device="cpu", num_threads=2))
    assert built[0].num_threads == 2

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--model", str(tiny_model_dir), "--threads", "3"])
    assert _settings(args, None).num_threads == 3
