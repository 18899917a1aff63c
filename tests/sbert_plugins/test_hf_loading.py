"""Model loading and saving: one load at a time (transformers patches globals while it builds a model) and no
progress bar."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from transformers.utils import logging as hf_logging

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_and_saving_show_no_bar_and_restore_the_setting(
    enabled: bool, tiny_model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    classifier = build_tiny_classifier(tmp_path / "ce")  # saved by transformers itself, before the check
    capfd.readouterr()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        SentenceEncoder(tiny_model_dir, device="cpu").save(tmp_path / "saved")
        CrossEncoder(classifier, device="cpu").save(tmp_path / "ce-saved")
        err = capfd.readouterr().err
        assert "Loading weights" not in err and "Writing model shards" not in err
        assert hf_logging.is_progress_bar_enabled() is enabled
    finally:
        hf_logging.enable_progress_bar()


def test_concurrent_loads_leave_transformers_weight_init_in_place(tiny_model_dir: Path) -> None:
    # transformers swaps torch.nn.init functions for no-ops while it builds a model; two unguarded loads in two
    # threads could leave the no-ops in place for good, and later models would keep uninitialised weights.
    originals = {name: getattr(torch.nn.init, name) for name in ("normal_", "uniform_", "zeros_")}
    threads = [
        threading.Thread(target=SentenceEncoder, args=(tiny_model_dir,), kwargs={"device": "cpu"}) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {name: getattr(torch.nn.init, name) for name in originals} == originals
