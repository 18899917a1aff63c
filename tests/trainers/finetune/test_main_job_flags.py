"""The main job (examples/finetune_ingest_search.py): the flags finetune's messages tell the user to pass
exist in the script."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from sbert_plugins.errors import ConfigError
from trainers.finetune.state import RunState

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "finetune_ingest_search.py"


def test_the_changed_settings_error_names_a_flag_of_the_main_job(tmp_path: Path) -> None:
    """A second run with --cross-encoder changes the run's fingerprint. Failed before: the message said
    --overwrite, which the script did not have (it had --fresh only)."""
    pytest.importorskip("langchain_core")
    spec = importlib.util.spec_from_file_location("main_job", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    RunState(tmp_path, "first-run", resume=False, overwrite=False).done("split", [], 0.0)
    with pytest.raises(ConfigError) as caught:
        RunState(tmp_path, "with-cross-encoder", resume=True, overwrite=False)
    flags = re.findall(r"--[a-z][a-z-]+", str(caught.value))
    assert flags, str(caught.value)
    parser = script.build_parser()
    for flag in flags:
        assert parser.parse_args(["--cross-encoder", flag]).fresh, flag  # the flag exists and starts over
