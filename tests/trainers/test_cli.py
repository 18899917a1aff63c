from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from tests.trainers.conftest import make_pair_rows
from trainers.cli import resolve_loss_class
from trainers.losses import CosineSimilarityLoss


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_train_command_trains_evaluates_and_saves(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", make_pair_rows(24))
    dev = _write_jsonl(tmp_path / "dev.jsonl", make_pair_rows(12))
    out = tmp_path / "out"
    args = ["train", "--model", str(tiny_model_dir), "--device", "cpu", "--train", str(train)]
    args += ["--loss", "cosine_similarity", "--epochs", "1", "--batch-size", "8", "--lr", "1e-4"]
    args += ["--warmup-ratio", "0.1", "--eval", str(dev), "--output", str(out), "--quiet"]
    code = main(args)
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["train_steps"] == 3
    assert "eval_spearman_cosine" in printed
    assert SentenceEncoder(out, device="cpu").embedding_dim == 32
    card = (out / "README.md").read_text()
    assert "| train | 24 |" in card and "eval_spearman_cosine" in card


def test_train_command_reports_bad_input_with_exit_code_2(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence1": "a", "sentence2": "b", "label": 0.5}\n{"sentence1": "a", "label": 1}\n')
    args = ["train", "--model", str(tiny_model_dir), "--train", str(bad), "--output", str(tmp_path / "o"), "--quiet"]
    assert main([*args, "--loss", "CosineSimilarityLoss"]) == 2
    assert f"{bad}:2: missing column 'sentence2'" in capsys.readouterr().err
    assert main([*args, "--loss", "NoSuchLoss"]) == 2
    assert "unknown loss 'NoSuchLoss'" in capsys.readouterr().err
    assert main([*args, "--loss", "CosineSimilarityLoss", "--epochs", "0"]) == 2
    assert "epochs" in capsys.readouterr().err


def test_loss_names_resolve_with_or_without_suffix() -> None:
    assert resolve_loss_class("CosineSimilarityLoss") is CosineSimilarityLoss
    assert resolve_loss_class("cosinesimilarity") is CosineSimilarityLoss
