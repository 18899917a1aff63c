"""Loading a model prints no transformers progress bar and leaves the caller's bar setting as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers.utils import logging as hf_logging

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_shows_no_weight_bar_and_restores_the_setting(
    enabled: bool, tiny_model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        SentenceEncoder(tiny_model_dir, device="cpu")
        CrossEncoder(build_tiny_classifier(tmp_path / "ce"), device="cpu")
        assert "Loading weights" not in capfd.readouterr().err
        assert hf_logging.is_progress_bar_enabled() is enabled
    finally:
        hf_logging.enable_progress_bar()
