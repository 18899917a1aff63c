"""Cross-encoder folders on disk: which layout a folder has, loading its classifier, and saving one.

Layouts read:

* **sentence-transformers >= 6**: ``modules.json`` with one Transformer module whose
  ``sentence_bert_config.json`` says ``"transformer_task": "sequence-classification"``, and
  ``config_sentence_transformers.json`` with ``"model_type": "CrossEncoder"`` and the activation.
* **plain Hugging Face / sentence-transformers < 6**: a ``*ForSequenceClassification`` folder; the
  activation, if any, is in ``config.json`` under ``sentence_transformers.activation_fn``.
* **an encoder checkpoint** (a sentence-transformers embedding model, or a bare ``AutoModel`` folder):
  its transformer weights get a freshly initialised classification head.

:func:`save_folder` writes both of the first two at once, so any version of the reference library loads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from sbert_plugins import __version__
from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins._paths import path_inside
from sbert_plugins.errors import ConfigError
from sbert_plugins.hf_loading import transformers_io
from sbert_plugins.loading import MODEL_CONFIG_FILE, MODULES_FILE, _read_modules_json
from sbert_plugins.modules.transformer import SBERT_CONFIG, check_weights_are_safe, load_config

logger = logging.getLogger(__name__)

Activation = Literal["sigmoid", "softmax", "identity"]
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "softmax", "identity")

# How the reference library names activations in its configs (the class's full import path).
_ACTIVATION_PATHS: dict[str, str] = {
    "sigmoid": "torch.nn.modules.activation.Sigmoid",
    "softmax": "torch.nn.modules.activation.Softmax",
    "identity": "torch.nn.modules.linear.Identity",
}
_ACTIVATION_NAMES = {path: name for name, path in _ACTIVATION_PATHS.items()}

_TRANSFORMER_ENTRY = {
    "transformer_task": "sequence-classification",
    "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
    "module_output_name": "scores",
}
_TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"


@dataclass(frozen=True)
class FolderLayout:
    """What a model folder holds: where the transformer is, whether it has a trained head, its settings."""

    transformer_dir: Path
    has_head: bool
    activation: Activation | None
    max_seq_length: int | None


def inspect_folder(folder: Path) -> FolderLayout:
    """Work out the layout of ``folder`` (see the module docstring) without loading weights.

    Raises:
        ConfigError: the folder is a sentence-transformers model of a kind this class cannot run
            (e.g. a causal-LM re-ranker) or its config files are malformed.
    """
    settings = read_json(folder / MODEL_CONFIG_FILE) if (folder / MODEL_CONFIG_FILE).is_file() else {}
    if (folder / MODULES_FILE).is_file():
        entries = _read_modules_json(folder / MODULES_FILE)
        if not entries:
            raise ConfigError(f"{folder / MODULES_FILE}: lists no modules")
        first = entries[0]
        if str(first.get("type", "")).rsplit(".", 1)[-1] != "Transformer":
            raise ConfigError(f"{folder / MODULES_FILE}: the first module must be a Transformer, found {first!r}")
        sub = path_inside(folder, str(first.get("path", "")), named_in=folder / MODULES_FILE)
        module_config = read_json(sub / SBERT_CONFIG) if (sub / SBERT_CONFIG).is_file() else {}
        max_seq_length = module_config.get("max_seq_length")
        if settings.get("model_type") == "CrossEncoder":
            task = module_config.get("transformer_task", "feature-extraction")
            if task != "sequence-classification" or len(entries) != 1:
                raise ConfigError(
                    f"{folder}: this cross-encoder (transformer_task {task!r}, {len(entries)} modules) is not "
                    "supported; supported: one sequence-classification Transformer module"
                )
            return FolderLayout(sub, True, _activation_from(settings.get("activation_fn"), folder), max_seq_length)
        # A sentence-transformers embedding model: its transformer is the starting point.
        return FolderLayout(sub, False, None, max_seq_length)

    config = read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    architectures = config.get("architectures") or []
    has_head = any(str(a).endswith("ForSequenceClassification") for a in architectures)
    st_config = config.get("sentence_transformers") or {}
    activation_path = st_config.get("activation_fn") if isinstance(st_config, dict) else None
    activation_path = activation_path or config.get("sbert_ce_default_activation_function")
    activation = _activation_from(activation_path, folder) if has_head else None
    return FolderLayout(folder, has_head, activation, None)


def _activation_from(path: Any, folder: Path) -> Activation | None:
    if path is None:
        return None
    name = _ACTIVATION_NAMES.get(str(path))
    if name is None:
        logger.warning(
            "%s: activation %r is not one of %s; using the default (sigmoid for one label, else identity). "
            "Pass activation=... to choose another.",
            folder,
            path,
            list(_ACTIVATION_PATHS.values()),
        )
    return name  # type: ignore[return-value]


@transformers_io
def load_classifier(
    layout: FolderLayout,
    *,
    num_labels: int | None,
    allow_pickle: bool,
    trust_remote_code: bool,
    model_kwargs: dict[str, Any] | None,
) -> tuple[PreTrainedModel, Any]:
    """Load the sequence-classification model and tokenizer described by ``layout``.

    With ``layout.has_head`` false the classification head is freshly initialised (seed torch first
    for a reproducible head) with ``num_labels`` outputs (default 1).

    Raises:
        ConfigError: ``num_labels`` differs from the number of labels of a trained head.
        UnsafeModelError: the weights are pickles and ``allow_pickle`` is false.
    """
    path = layout.transformer_dir
    check_weights_are_safe(path, allow_pickle=allow_pickle)
    config = load_config(path, trust_remote_code=trust_remote_code)
    if layout.has_head:
        if num_labels is not None and num_labels != config.num_labels:
            raise ConfigError(
                f"{path} has a trained head with {config.num_labels} labels, but num_labels={num_labels} was asked "
                f"for; leave num_labels unset, or start from the encoder weights to train a new head"
            )
    else:
        config.num_labels = num_labels or 1
        logger.info("%s has no classification head: starting a new one with %d label(s)", path, config.num_labels)
    if hasattr(config, "sbert_ce_default_activation_function"):
        # sentence-transformers < 4 kept the activation here; it now lives in our own config files.
        del config.sbert_ce_default_activation_function
    kwargs: dict[str, Any] = {"attn_implementation": "sdpa", **(model_kwargs or {})}
    # With pickles allowed, transformers still prefers model.safetensors when the folder has one.
    use_safetensors = None if allow_pickle else True
    common = {"config": config, "trust_remote_code": trust_remote_code, "use_safetensors": use_safetensors}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), **common, **kwargs)
    except (ValueError, ImportError) as exc:
        if "attn_implementation" in (model_kwargs or {}) or "sdpa" not in str(exc).lower():
            raise
        kwargs.pop("attn_implementation")
        model = AutoModelForSequenceClassification.from_pretrained(str(path), **common, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    return model, tokenizer


@transformers_io
def save_folder(
    model: PreTrainedModel, tokenizer: Any, folder: Path, *, activation: Activation, max_length: int
) -> None:
    """Write ``model`` and ``tokenizer`` as a cross-encoder folder readable by every layout reader."""
    folder.mkdir(parents=True, exist_ok=True)
    activation_path = _ACTIVATION_PATHS[activation]
    model.config.sentence_transformers = {"activation_fn": activation_path, "version": __version__}
    model.save_pretrained(str(folder), safe_serialization=True)
    previous = tokenizer.model_max_length
    tokenizer.model_max_length = max_length
    try:
        tokenizer.save_pretrained(str(folder))
    finally:
        tokenizer.model_max_length = previous
    write_json(folder / SBERT_CONFIG, {**_TRANSFORMER_ENTRY, "max_seq_length": max_length})
    write_json(folder / MODULES_FILE, [{"idx": 0, "name": "0", "path": "", "type": _TRANSFORMER_TYPE}])
    versions = {"sbert_plugins": __version__, "transformers": transformers.__version__, "pytorch": torch.__version__}
    write_json(
        folder / MODEL_CONFIG_FILE,
        {
            "__version__": versions,
            "model_type": "CrossEncoder",
            "activation_fn": activation_path,
            "prompts": {},
            "default_prompt_name": None,
        },
    )
