"""Reading and writing a module folder: a JSON config and safetensors weights (pickles only on request)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins.errors import ConfigError, UnsafeModelError

WEIGHTS_FILE = "model.safetensors"
PICKLED_WEIGHTS_FILE = "pytorch_model.bin"


def save_module(module: nn.Module, path: Path, config: dict[str, Any], *, config_name: str = "config.json") -> None:
    """Write ``config`` to ``path/config_name`` and the module's weights (if any) to ``model.safetensors``."""
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / config_name, config)
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    if state:
        save_file(state, str(path / WEIGHTS_FILE))


def read_config(path: Path, config_name: str = "config.json") -> dict[str, Any]:
    """The module's JSON config, or a ConfigError naming the missing file."""
    if not (path / config_name).is_file():
        raise ConfigError(f"{path}: the module's {config_name} is missing")
    return read_json(path / config_name)


def load_weights(path: Path, *, allow_pickle: bool, owner: str) -> dict[str, Tensor]:
    """The tensors of ``path/model.safetensors`` (or of ``pytorch_model.bin`` when ``allow_pickle``).

    Raises:
        UnsafeModelError: only pickled weights exist and ``allow_pickle`` is False.
        ConfigError: no weights file at all.
    """
    if (path / WEIGHTS_FILE).is_file():
        return load_file(str(path / WEIGHTS_FILE))
    if (path / PICKLED_WEIGHTS_FILE).is_file():
        if not allow_pickle:
            raise UnsafeModelError(
                f"{path / PICKLED_WEIGHTS_FILE} holds pickled weights, which can run code when loaded; "
                "pass allow_pickle=True (--allow-pickle on the command line) if you trust this model, "
                "or convert it to safetensors"
            )
        return torch.load(path / PICKLED_WEIGHTS_FILE, map_location="cpu", weights_only=True)  # type: ignore[no-any-return]
    raise ConfigError(f"{path}: no {WEIGHTS_FILE} (or {PICKLED_WEIGHTS_FILE}) found for the {owner} layer")


def config_value(config: dict[str, Any], *keys: str, source: Path) -> Any:
    """The first of ``keys`` present in ``config`` (newer name first, then older ones)."""
    for key in keys:
        if key in config:
            return config[key]
    raise ConfigError(f"{source}: missing key {keys[0]!r}")
