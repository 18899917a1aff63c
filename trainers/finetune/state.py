"""The resume record of a finetune run: which phases are done and what they produced, in
``<output>/.finetune/state.json``, rewritten atomically after every phase."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sbert_plugins._atomic import save_folder_atomically, write_bytes_atomically
from sbert_plugins.errors import ConfigError

WORK_DIR = ".finetune"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"  # in WORK_DIR: every file of the output folder a finetune run wrote


class RunState:
    """Phase results of one run, keyed by phase name; saved after each :meth:`done`.

    The files a run puts into ``output`` go through :meth:`publish`, which records them in
    ``.finetune/manifest.json``; ``overwrite`` touches only files listed there, and the previous run's
    model stays in place until the new one is complete (:meth:`finish` then removes what the new run
    did not rewrite).

    Args:
        output: the run's output folder.
        fingerprint: identifies the settings and data; a resumed run must match it.
        resume: continue the run recorded in ``output`` (a fresh start when there is none).
        overwrite: start over in an output folder that holds an earlier run's files (and nothing else).

    Raises:
        ConfigError: ``output`` holds files and neither ``resume`` nor ``overwrite`` is set; ``overwrite`` on a
            folder holding files no finetune run wrote; or the recorded run used other settings or data.
    """

    def __init__(self, output: Path, fingerprint: str, *, resume: bool, overwrite: bool) -> None:
        self.output = output
        self.work = output / WORK_DIR
        self.path = self.work / STATE_FILE
        self.manifest = self.work / MANIFEST_FILE
        self.fingerprint = fingerprint
        recorded = None
        if overwrite and output.is_dir():
            self._clear_previous_state()
        else:
            recorded = self._read() if resume else None
            if recorded is None and output.is_dir() and any(output.iterdir()):
                hint = "--resume to continue it" if self.path.is_file() else "another folder"
                raise ConfigError(
                    f"output folder {output} is not empty; pass {hint}, or --overwrite (overwrite=True) to start over"
                )
        if recorded is None:
            self.phases: dict[str, Any] = {}
            self.timings: dict[str, float] = {}
            self.cpu_timings: dict[str, float] = {}
            self.published: list[str] = []
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
            self.published = list(recorded.get("published", []))
        self.work.mkdir(parents=True, exist_ok=True)

    def _clear_previous_state(self) -> None:
        """Forget an earlier run's phases, keeping its published files (replaced only once the new ones are
        complete); refuse a folder holding anything no finetune run wrote."""
        owned = set(self._owned())
        foreign = [
            p.relative_to(self.output).as_posix()
            for p in sorted(self.output.rglob("*"))
            if not p.is_dir() and p.relative_to(self.output).parts[0] != WORK_DIR
        ]
        foreign = [name for name in foreign if name not in owned]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            legacy = (
                ""
                if self.manifest.is_file() or not self.path.is_file()
                else (" (a run from a version that kept no manifest: delete the folder yourself to reuse it)")
            )
            raise ConfigError(
                f"--overwrite refuses to use {self.output}: it holds files no finetune run wrote ({shown}){legacy}; "
                "move them away or pass another --output"
            )
        if self.work.is_dir():
            for entry in self.work.iterdir():
                if entry.name == MANIFEST_FILE:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def _owned(self) -> list[str]:
        if not self.manifest.is_file():
            return []
        try:
            files = json.loads(self.manifest.read_text(encoding="utf-8")).get("files", [])
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ConfigError(
                f"{self.manifest} is damaged ({exc}); remove {self.output} yourself to start over"
            ) from exc
        return [str(name) for name in files]

    def publish(self, write: Callable[[Path], None]) -> None:
        """Put the files ``write(folder)`` produces into the output folder: written and flushed in a staging
        folder first, recorded as this run's, then renamed into place one by one (each name holds the old or
        the new complete file at any moment)."""
        staging = self.work / f"publish-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            write_into = staging / "files"
            write(write_into)
            names = sorted(p.relative_to(write_into).as_posix() for p in write_into.rglob("*") if p.is_file())
            self._write_manifest(sorted(set(self._owned()) | set(names)))
            save_folder_atomically(self.output, lambda folder: _move_tree(write_into, folder))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.published = sorted(set(self.published) | set(names))
        self._save()

    def finish(self) -> None:
        """Remove the files an earlier run published that this run did not write again."""
        for name in sorted(set(self._owned()) - set(self.published)):
            stale = self.output / name
            if stale.is_file() or stale.is_symlink():
                stale.unlink()
            for parent in stale.parents:
                if parent == self.output or not parent.is_dir() or any(parent.iterdir()):
                    break
                parent.rmdir()
        self._write_manifest(self.published)

    def _write_manifest(self, files: list[str]) -> None:
        write_bytes_atomically(self.manifest, (json.dumps({"files": files}, indent=1) + "\n").encode("utf-8"))

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
        self._save()

    def _save(self) -> None:
        payload = {
            "fingerprint": self.fingerprint,
            "phases": self.phases,
            "timings": self.timings,
            "cpu_timings": self.cpu_timings,
            "published": self.published,
        }
        write_bytes_atomically(self.path, (json.dumps(payload) + "\n").encode("utf-8"))


def _move_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
