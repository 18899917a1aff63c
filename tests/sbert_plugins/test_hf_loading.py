"""Model loading and saving: one load at a time (transformers patches globals while it builds a model), no
progress bar, and no load reports in quiet runs."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from transformers.utils import logging as hf_logging

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.hf_loading import loads_are_quiet, quiet_loads
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


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_loads_hold_back_the_load_reports_of_fresh_heads(
    quiet: bool, tiny_model_dir: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Failed before quiet_loads: finetune --quiet printed transformers' MISSING tables for new heads."""
    from sbert_plugins.sparse import SparseEncoder

    verbosity = hf_logging.get_verbosity()
    capfd.readouterr()
    with quiet_loads() if quiet else nullcontext():
        assert loads_are_quiet() is quiet
        SparseEncoder.from_transformer(tiny_model_dir, device="cpu")  # a fresh MLM head
        CrossEncoder(tiny_model_dir, device="cpu")  # a fresh classification head
    shown = capfd.readouterr().err + caplog.text  # transformers' own handler, and the records that propagate
    reports = ("BertForMaskedLM LOAD REPORT", "BertForSequenceClassification LOAD REPORT", "classifier.weight")
    reports += ("has no masked-language-model head",)  # our own notice of the same fresh parameters
    if quiet:
        assert not [report for report in reports if report in shown]
    else:  # shown as before
        assert [report for report in reports if report in shown] == list(reports)
    assert hf_logging.get_verbosity() == verbosity and not loads_are_quiet()
