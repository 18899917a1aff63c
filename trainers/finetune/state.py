"""The resume record of a finetune run: which phases are done and what they produced, in
``<output>/.finetune/state.json``, rewritten atomically after every phase."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from sbert_plugins.errors import ConfigError

WORK_DIR = ".finetune"
STATE_FILE = "state.json"
OWN_FILES = ("metrics.json", "README.md", "modules.json", WORK_DIR)


class RunState:
    """Phase results of one run, keyed by phase name; saved after each :meth:`done`.

    Args:
        output: the run's output folder.
        fingerprint: identifies the settings and data; a resumed run must match it.
        resume: continue the run recorded in ``output`` (a fresh start when there is none).
        overwrite: delete a previous run's output first.

    Raises:
        ConfigError: ``output`` holds files and neither ``resume`` nor ``overwrite`` is set; or the recorded
            run used other settings or data.
    """

    def __init__(self, output: Path, fingerprint: str, *, resume: bool, overwrite: bool) -> None:
        self.output = output
        self.work = output / WORK_DIR
        self.path = self.work / STATE_FILE
        self.fingerprint = fingerprint
        if overwrite and output.is_dir():
            _remove_previous_run(output)
        recorded = self._read() if resume else None
        if recorded is None:
            if output.is_dir() and any(output.iterdir()):
                hint = "--resume to continue it" if self.path.is_file() else "another folder"
                raise ConfigError(
                    f"output folder {output} is not empty; pass {hint}, or --overwrite (overwrite=True) to start over"
                )
            self.phases: dict[str, Any] = {}
            self.timings: dict[str, float] = {}
            self.cpu_timings: dict[str, float] = {}
        else:
            if recorded.get("fingerprint") != fingerprint:
                raise ConfigError(
                    f"{self.path} records a run with other settings or data (fingerprint "
                    f"{recorded.get('fingerprint')} vs now {fingerprint}); resume with the same pairs and flags, "
                    "or pass --overwrite to start over"
                )
            self.phases = dict(recorded.get("phases", {}))
            self.timings = dict(recorded.get("timings", {}))
            self.cpu_timings = dict(recorded.get("cpu_timings", {}))
        self.work.mkdir(parents=True, exist_ok=True)

    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            loaded: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{self.path} is damaged ({exc.msg}); pass --overwrite to start over") from exc
        return loaded

    def get(self, phase: str) -> Any:
        """The recorded result of ``phase``, or None when it has not finished."""
        return self.phases.get(phase)

    def done(self, phase: str, result: Any, seconds: float, cpu_seconds: float = 0.0) -> None:
        """Record ``phase`` as finished with ``result`` (JSON-serialisable), taking ``seconds`` of wall time
        and ``cpu_seconds`` of process CPU time (on a shared machine the two tell different stories)."""
        self.phases[phase] = result
        self.timings[phase] = round(seconds, 2)
        self.cpu_timings[phase] = round(cpu_seconds, 2)
        payload = {
            "fingerprint": self.fingerprint,
            "phases": self.phases,
            "timings": self.timings,
            "cpu_timings": self.cpu_timings,
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)


def _remove_previous_run(output: Path) -> None:
    """Delete what an earlier run wrote, refusing folders that do not look like a finetune output."""
    if not any(output.iterdir()):
        return
    if not (output / WORK_DIR).is_dir() and not (output / "metrics.json").is_file():
        raise ConfigError(f"--overwrite refuses to empty {output}: it does not hold a finetune output")
    shutil.rmtree(output)
