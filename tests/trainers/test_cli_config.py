"""``sbert-plugins train --config FILE``: typed flags override the file, untyped flag defaults never do."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from trainers.cli import FLAG_DEFAULTS, build_config, register

FILE_SETTINGS = {
    "epochs": 3,
    "batch_size": 64,
    "learning_rate": 1e-4,
    "warmup_ratio": 0.25,
    "precision": "bf16",
    "batch_sampler": "no_duplicates",
    "seed": 7,
    "show_progress": False,
}


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["train", "--train", "t.jsonl", "--loss", "MNRL", "--output", "out", *argv])


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(FILE_SETTINGS), encoding="utf-8")
    return path


def test_untyped_flags_leave_the_file_alone(config_file: Path) -> None:
    """Failed before: every setting above came back as the flag's default (1 epoch, batch 16, ...)."""
    config = build_config(_parse("--config", str(config_file)))
    assert {key: getattr(config, key) for key in FILE_SETTINGS} == FILE_SETTINGS
    assert config.output_dir == "out"


def test_typed_flags_override_the_file(config_file: Path) -> None:
    argv = ["--config", str(config_file), "--epochs", "2", "--lr", "3e-5", "--sampler", "random", "--seed", "1"]
    config = build_config(_parse(*argv, "--precision", "fp32", "--quiet"))
    assert (config.epochs, config.learning_rate, config.batch_sampler, config.seed, config.precision) == (
        2,
        3e-5,
        "random",
        1,
        "fp32",
    )
    assert (config.batch_size, config.warmup_ratio) == (64, 0.25)  # from the file: not typed


def test_without_a_file_the_flag_defaults_apply(tmp_path: Path) -> None:
    config = build_config(_parse())
    assert {key: getattr(config, key) for key in FLAG_DEFAULTS} == FLAG_DEFAULTS
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"epochs": 5}), encoding="utf-8")
    config = build_config(_parse("--config", str(partial)))
    assert config.epochs == 5 and config.warmup_ratio == FLAG_DEFAULTS["warmup_ratio"] and config.show_progress
