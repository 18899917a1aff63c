from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

from sbert_plugins.errors import DataError
from sbert_plugins.hf_loading import loads_are_quiet
from tests.trainers.finetune.conftest import write_jsonl
from trainers.finetune.cli import build_config, register


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["finetune", *argv])


def test_flags_become_the_config() -> None:
    args = _parse(["--pairs", "p.jsonl", "--output", "o", "--epochs", "2", "--hard-negatives", "3"])
    argv_rr = ["--pairs", "p", "--output", "o", "--reranker-output", "r", "--lr", "1e-4", "--precision", "bf16"]
    argv_rr += ["--reranker-pseudo-queries", "7"]
    config = build_config(args)
    assert (config.epochs, config.hard_negatives, config.reranker_output, config.show_progress) == (2, 3, None, True)
    assert config.precision == "fp32"
    config_rr = build_config(_parse([*argv_rr, "--quiet"]))
    assert (config_rr.reranker_output, config_rr.learning_rate, config_rr.precision) == ("r", 1e-4, "bf16")
    assert config_rr.reranker_pseudo_queries == 7 and config.reranker_pseudo_queries == 0
    assert config_rr.reranker_first_stage_scale is None
    corrected = build_config(_parse([*argv_rr, "--reranker-first-stage-scale", "20"]))
    assert corrected.reranker_first_stage_scale == 20.0


def test_command_runs_the_pipeline_and_prints_the_table(
    tiny_model_dir: Path, pair_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs, corpus = pair_files
    out = tmp_path / "model"
    argv = ["--pairs", str(pairs), "--corpus", str(corpus), "--base", str(tiny_model_dir), "--output", str(out)]
    argv += ["--batch-size", "8", "--dev-size", "4", "--hard-negatives", "0", "--quiet"]
    args = _parse(argv)
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "base" in printed and "fine-tuned" in printed and "ndcg@10" in printed
    assert json.loads((out / "metrics.json").read_text())["data"]["negatives_per_row"] == 0


def test_command_reports_bad_lines_before_loading_a_model(tmp_path: Path) -> None:
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "a", "positive": "b"}, {"query": "c"}])
    args = _parse(["--pairs", str(pairs), "--base", str(tmp_path / "no-such-model"), "--output", str(tmp_path / "o")])
    with pytest.raises(DataError, match=rf"{pairs}:2: missing field 'positive'"):
        args.handler(args)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_runs_the_pipeline_with_quiet_loads(quiet: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--quiet also holds back transformers' load reports (e.g. of a fresh re-ranker or MLM head): the whole
    pipeline runs inside quiet_loads."""
    import trainers.finetune.run

    seen: list[bool] = []

    def pipeline(*args: object, **kwargs: object) -> None:
        seen.append(loads_are_quiet())
        raise DataError("stop after the check")

    monkeypatch.setattr(trainers.finetune.run, "finetune", pipeline)
    args = _parse(["--pairs", "p.jsonl", "--output", str(tmp_path / "o"), *(["--quiet"] if quiet else [])])
    phase_log = logging.getLogger("trainers.finetune")  # a run without --quiet gives it a handler
    handlers, level, propagate = list(phase_log.handlers), phase_log.level, phase_log.propagate
    try:
        with pytest.raises(DataError, match="stop after the check"):
            args.handler(args)
    finally:
        for handler in set(phase_log.handlers) - set(handlers):
            phase_log.removeHandler(handler)
        phase_log.setLevel(level)
        phase_log.propagate = propagate
    assert seen == [quiet] and not loads_are_quiet()
