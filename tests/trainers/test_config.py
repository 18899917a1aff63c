from __future__ import annotations

from pathlib import Path

import pytest

from sbert_plugins.errors import ConfigError
from trainers import TrainingConfig


def test_json_round_trip_keeps_every_field(tmp_path: Path) -> None:
    config = TrainingConfig(
        epochs=3,
        batch_size=32,
        learning_rate=3e-5,
        warmup_ratio=0.1,
        scheduler="cosine",
        precision="bf16",
        batch_sampler={"nli": "random", "pairs": "no_duplicates"},
        eval_steps=50,
        save_steps=100,
        output_dir=str(tmp_path / "out"),
    )
    assert TrainingConfig.from_json(config.to_json()) == config
    config.save(tmp_path / "config.json")
    assert TrainingConfig.load(tmp_path / "config.json") == config


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"warmup_ratio": 1.5}, "warmup_ratio"),
        ({"scheduler": "exponential"}, "scheduler"),
        ({"precision": "fp8"}, "precision"),
        ({"batch_sampler": "sorted"}, "batch_sampler"),
        ({"unknown_key": 1}, "unknown_key"),
        ({"batch_sampler": "group_by_label", "batch_size": 9, "samples_per_label": 2}, "multiple of samples_per_label"),
        ({"output_dir": " "}, "output_dir"),
    ],
)
def test_invalid_settings_raise_config_error_naming_the_key(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        TrainingConfig(**settings)


def test_from_json_rejects_unknown_keys_and_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"epochs": 1, "epochz": 2}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.json.*epochz"):
        TrainingConfig.load(path)


def test_sampler_per_dataset_needs_every_dataset() -> None:
    config = TrainingConfig(batch_sampler={"a": "no_duplicates"})
    assert config.sampler_for("a") == "no_duplicates"
    with pytest.raises(ConfigError, match="no entry for dataset 'b'"):
        config.sampler_for("b")


def test_schedule_differences_lists_fields_that_change_the_batch_order() -> None:
    base = TrainingConfig(batch_size=16, seed=1)
    assert base.schedule_differences(TrainingConfig(batch_size=16, seed=1, learning_rate=1e-3)) == {}
    assert set(base.schedule_differences(TrainingConfig(batch_size=8, seed=2))) == {"batch_size", "seed"}
