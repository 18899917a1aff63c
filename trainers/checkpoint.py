"""Checkpoints: everything needed to continue a run exactly where it stopped, written atomically.

A checkpoint folder ``checkpoints/step-00000120/`` holds:

- ``model.safetensors``: the model's weights (``state_dict``);
- ``training_state.pt``: optimizer, scheduler, gradient scaler, the losses' own weights (a classifier
  head, for instance) and the random number generator states (Python, NumPy, torch CPU and CUDA), one set
  per rank in a distributed run (rank 0 writes the checkpoint for all);
- ``trainer_state.json``: step, epoch, position inside the epoch, best metric, log summary, and the config.

It is written to a hidden temporary folder beside its final place and renamed when complete, so a crash
never leaves a half-written checkpoint under a real name.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from sbert_plugins._atomic import fsync_tree, replace_durably, storage_errors, temporary_name
from sbert_plugins.errors import ConfigError

CHECKPOINTS_DIR = "checkpoints"
STEP_PREFIX = "step-"
BEST_DIR = "best-model"
MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
TRAINER_STATE_FILE = "trainer_state.json"


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint after optimizer step ``step``."""
    return f"{STEP_PREFIX}{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete step checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(STEP_PREFIX) and (p / TRAINER_STATE_FILE).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def resolve_checkpoint(resume_from: str, output_dir: Path) -> Path:
    """The folder ``resume_from`` names; ``"latest"`` is the newest checkpoint in ``output_dir/checkpoints``.

    Raises:
        ConfigError: no such checkpoint (the message lists what exists).
    """
    root = output_dir / CHECKPOINTS_DIR
    if resume_from == "latest":
        found = list_checkpoints(root)
        if not found:
            raise ConfigError(f"resume_from='latest', but {root} holds no checkpoint; set save_steps to write them")
        return found[-1]
    path = Path(resume_from)
    if not (path / TRAINER_STATE_FILE).is_file():
        existing = ", ".join(p.name for p in list_checkpoints(root)) or "none"
        raise ConfigError(f"resume_from={resume_from!r} is not a checkpoint folder; checkpoints in {root}: {existing}")
    return path


def resume_candidates(resume_from: str, output_dir: Path) -> list[Path]:
    """The checkpoints to try, in order, for ``resume_from``: for ``"latest"`` every step checkpoint in
    ``output_dir/checkpoints``, newest first (a damaged one falls back to the one before); otherwise the
    one folder named.

    Raises:
        ConfigError: no such checkpoint (the message lists what exists).
    """
    if resume_from == "latest":
        return [
            resolve_checkpoint("latest", output_dir),
            *reversed(list_checkpoints(output_dir / CHECKPOINTS_DIR)[:-1]),
        ]
    return [resolve_checkpoint(resume_from, output_dir)]


class DamagedCheckpointError(ConfigError):
    """A checkpoint file is truncated or unreadable: the message names the checkpoint and the file."""


def read_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and check every file of the checkpoint ``folder`` without applying any of it.

    Returns:
        (the training state: optimizer, scheduler, scaler, losses, RNG; the trainer state from JSON).

    Raises:
        DamagedCheckpointError: a file is missing, truncated or unreadable (named with its checkpoint).
    """

    def damaged(name: str, exc: BaseException) -> DamagedCheckpointError:
        return DamagedCheckpointError(
            f"checkpoint {folder} is damaged: {name} cannot be read ({type(exc).__name__}: {exc}); "
            "resume from an earlier checkpoint (resume_from='latest' takes the newest intact one) or start over"
        )

    try:
        trainer_state = json.loads((folder / TRAINER_STATE_FILE).read_text(encoding="utf-8"))
        if not isinstance(trainer_state, dict):
            raise ValueError("expected a JSON object")
    except (OSError, ValueError) as exc:
        raise damaged(TRAINER_STATE_FILE, exc) from exc
    try:
        with safe_open(str(folder / MODEL_FILE), framework="pt") as weights:  # checks the header against the size
            for key in weights.keys():  # noqa: SIM118 (safe_open has no __iter__)
                weights.get_slice(key)
    except Exception as exc:  # safetensors raises its own SafetensorError and OSError
        raise damaged(MODEL_FILE, exc) from exc
    try:
        saved: dict[str, Any] = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise damaged(STATE_FILE, exc) from exc
    return saved, trainer_state


def write_atomically(target: Path, write: Any) -> Path:
    """Call ``write(folder)`` on a temporary folder beside ``target``, then rename it to ``target``.

    An existing ``target`` is replaced only once the new folder is complete.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(target)
    temporary.mkdir()
    try:
        with storage_errors(target):
            write(temporary)
        fsync_tree(temporary)  # the files are on disk before their folder gets its real name
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = temporary_name(target, "old")
        os.replace(target, old)
    replace_durably(temporary, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def own_state(module: nn.Module, model: nn.Module) -> dict[str, torch.Tensor]:
    """The entries of ``module.state_dict()`` that are not the model's tensors (e.g. a loss's classifier)."""
    shared = {t.data_ptr() for t in model.state_dict().values() if t.numel()}
    return {k: v for k, v in module.state_dict().items() if not (v.numel() and v.data_ptr() in shared)}


def capture_rng() -> dict[str, Any]:
    """The states of every random number generator training may draw from."""
    numpy_state = cast(tuple[Any, ...], np.random.get_state(legacy=True))
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": numpy_state[0],
            "keys": torch.from_numpy(np.asarray(numpy_state[1], dtype=np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Put back the generator states recorded by :func:`capture_rng`."""
    random.setstate(_as_tuple(state["python"]))
    saved = state["numpy"]
    np.random.set_state(
        (
            saved["name"],
            saved["keys"].numpy().astype(np.uint32),
            saved["pos"],
            saved["has_gauss"],
            saved["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """``random.setstate`` wants tuples all the way down; serialisers may hand back lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value


def save_checkpoint(
    target: Path,
    *,
    model: nn.Module,
    losses: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    trainer_state: Mapping[str, Any],
    rng_states: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write a checkpoint folder at ``target`` atomically; returns ``target``.

    ``rng_states``: every rank's :func:`capture_rng` in rank order (distributed runs); default: this process's.
    """
    per_rank = list(rng_states) if rng_states is not None else [capture_rng()]

    def write(folder: Path) -> None:
        save_model(model, str(folder / MODEL_FILE))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "losses": {name: own_state(loss, model) for name, loss in losses.items()},
                "rng": per_rank[0],
                "rng_per_rank": per_rank,
            },
            folder / STATE_FILE,
        )
        (folder / TRAINER_STATE_FILE).write_text(json.dumps(dict(trainer_state), indent=2) + "\n", encoding="utf-8")

    return write_atomically(target, write)


def load_checkpoint(
    folder: Path,
    *,
    model: nn.Module,
    losses: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    rank: int = 0,
) -> dict[str, Any]:
    """Load a checkpoint into the given objects and restore the RNG states; returns the trainer state.

    ``rank``: whose RNG states to restore, when the checkpoint holds one set per rank.

    Raises:
        DamagedCheckpointError: a file of the checkpoint is truncated or unreadable (nothing is loaded then).
        ConfigError: the checkpoint's losses do not match the ones given.
    """
    saved, state = read_checkpoint(folder)
    load_model(model, str(folder / MODEL_FILE), device=str(_device_of(model)))
    if set(saved["losses"]) != set(losses):
        raise ConfigError(
            f"{folder}: the checkpoint was written for datasets {sorted(saved['losses'])}, "
            f"but this run trains {sorted(losses)}"
        )
    for name, loss in losses.items():
        loss.load_state_dict(saved["losses"][name], strict=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    if scaler is not None and saved["scaler"] is not None:
        scaler.load_state_dict(saved["scaler"])
    per_rank = saved.get("rng_per_rank") or [saved["rng"]]
    restore_rng(per_rank[rank] if rank < len(per_rank) else saved["rng"])
    return state


def prune_checkpoints(root: Path, keep: int | None) -> None:
    """Delete all but the newest ``keep`` step checkpoints (``None``: keep all)."""
    if keep is None:
        return
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def save_weights(target: Path, model: nn.Module, metrics: Mapping[str, float]) -> Path:
    """Write the model's weights and the metrics they scored to ``target`` atomically (the best model so far)."""

    def write(folder: Path) -> None:
        save_model(model, str(folder / MODEL_FILE))
        (folder / "metrics.json").write_text(json.dumps(dict(metrics), indent=2) + "\n", encoding="utf-8")

    return write_atomically(target, write)


def load_weights(folder: Path, model: nn.Module) -> None:
    """Load weights written by :func:`save_weights` into ``model``."""
    load_model(model, str(folder / MODEL_FILE), device=str(_device_of(model)))


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
