"""The server's encoding threads: the encoder's default unless told otherwise."""

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


def test_by_default_the_encoder_chooses(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[SentenceEncoder] = []

    def encoder(*args: Any, **kwargs: Any) -> SentenceEncoder:
        built.append(SentenceEncoder(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(serve_app, "SentenceEncoder", encoder)
    serve_app.load_app(ServeSettings(model=tiny_model_dir, device="cpu"))
    assert built[0].num_threads is None  # $SBERT_PLUGINS_NUM_THREADS, else every CPU the process may use
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
