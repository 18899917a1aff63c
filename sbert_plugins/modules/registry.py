"""Which module classes a ``modules.json`` may name, and how each is built from its folder.

Only the classes listed here are ever built: a config file never makes us import an arbitrary class.
A class that is known but out of scope (images) and an unknown class are both an error that names the
class and lists what loads. Sparse module types (:mod:`sbert_plugins.sparse`) load here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from sbert_plugins._jsonio import read_json
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules.bow import BoW
from sbert_plugins.modules.cnn import CNN
from sbert_plugins.modules.dense import Dense
from sbert_plugins.modules.dropout import Dropout
from sbert_plugins.modules.layer_norm import LayerNorm
from sbert_plugins.modules.lstm import LSTM
from sbert_plugins.modules.normalize import Normalize
from sbert_plugins.modules.pooling import Pooling
from sbert_plugins.modules.router import Router
from sbert_plugins.modules.static_embedding import StaticEmbedding
from sbert_plugins.modules.transformer import SBERT_CONFIG, Transformer
from sbert_plugins.modules.weighted_layer_pooling import WeightedLayerPooling
from sbert_plugins.modules.word_embeddings import WordEmbeddings
from sbert_plugins.modules.word_weights import WordWeights
from sbert_plugins.sparse.mlm_transformer import MLMTransformer
from sbert_plugins.sparse.sparse_auto_encoder import SparseAutoEncoder
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from sbert_plugins.sparse.splade_pooling import SpladePooling

REFERENCE_PACKAGE = "sentence_transformers"


@dataclass(frozen=True)
class LoadOptions:
    """How to load weights: pickles allowed, remote code allowed, extra ``from_pretrained`` arguments."""

    allow_pickle: bool = False
    trust_remote_code: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Path, LoadOptions], nn.Module]


# sentence-transformers 5.4+ saves a SPLADE model's transformer as ``Transformer`` with this task.
FILL_MASK_TASK = "fill-mask"


def _transformer(path: Path, options: LoadOptions) -> nn.Module:
    settings_file = path / SBERT_CONFIG
    task = read_json(settings_file).get("transformer_task") if settings_file.is_file() else None
    return _load_transformer(MLMTransformer if task == FILL_MASK_TASK else Transformer, path, options)


def _mlm_transformer(path: Path, options: LoadOptions) -> nn.Module:
    return _load_transformer(MLMTransformer, path, options)


def _load_transformer(cls: type[Transformer], path: Path, options: LoadOptions) -> nn.Module:
    return cls.load(
        path,
        allow_pickle=options.allow_pickle,
        trust_remote_code=options.trust_remote_code,
        model_kwargs=options.model_kwargs or None,
    )


def _router(path: Path, options: LoadOptions) -> nn.Module:
    return Router.load(path, lambda module_type, folder: load_module(module_type, folder, options))


SUPPORTED_MODULES: dict[str, Builder] = {
    "Transformer": _transformer,
    "Pooling": lambda path, _: Pooling.load(path),
    "Dense": lambda path, options: Dense.load(path, allow_pickle=options.allow_pickle),
    "Normalize": lambda path, _: Normalize.load(path),
    "StaticEmbedding": lambda path, _: StaticEmbedding.load(path),
    "Router": _router,
    "Asym": _router,  # the Router's name before sentence-transformers 5
    # Legacy modules of sentence-transformers 0.x-2.x models.
    "LayerNorm": lambda path, options: LayerNorm.load(path, allow_pickle=options.allow_pickle),
    "Dropout": lambda path, _: Dropout.load(path),
    "WeightedLayerPooling": lambda path, options: WeightedLayerPooling.load(path, allow_pickle=options.allow_pickle),
    "CNN": lambda path, options: CNN.load(path, allow_pickle=options.allow_pickle),
    "LSTM": lambda path, options: LSTM.load(path, allow_pickle=options.allow_pickle),
    "WordEmbeddings": lambda path, options: WordEmbeddings.load(path, allow_pickle=options.allow_pickle),
    "WordWeights": lambda path, options: WordWeights.load(path, allow_pickle=options.allow_pickle),
    "BoW": lambda path, _: BoW.load(path),
    # Sparse (SPLADE, inference-free SPLADE, CSR) models.
    "MLMTransformer": _mlm_transformer,
    "SpladePooling": lambda path, _: SpladePooling.load(path),
    "SparseStaticEmbedding": lambda path, _: SparseStaticEmbedding.load(path),
    "SparseAutoEncoder": lambda path, options: SparseAutoEncoder.load(path, allow_pickle=options.allow_pickle),
}

OUT_OF_SCOPE: dict[str, str] = {
    "CLIPModel": "image and multimodal modules are out of scope here (this project encodes text only)",
}


def class_name(module_type: str) -> str:
    """``"sentence_transformers.models.Dense"`` → ``"Dense"``."""
    return module_type.rsplit(".", 1)[-1]


def supported_classes() -> list[str]:
    """The module classes that load, sorted (``Asym`` is listed as ``Router``)."""
    return sorted(name for name in SUPPORTED_MODULES if name != "Asym")


def load_module(module_type: str, folder: Path, options: LoadOptions) -> nn.Module:
    """Build the module ``module_type`` (a class path from ``modules.json``) stored in ``folder``.

    Raises:
        ConfigError: the class is not one of :func:`supported_classes`, or comes from another package.
    """
    name = class_name(module_type)
    builder = SUPPORTED_MODULES.get(name)
    if builder is None or not module_type.startswith(REFERENCE_PACKAGE + "."):
        raise ConfigError(unsupported_message(module_type))
    return builder(folder, options)


def unsupported_message(module_type: str) -> str:
    """Why ``module_type`` does not load, and what does."""
    name = class_name(module_type)
    if name in OUT_OF_SCOPE:
        reason = OUT_OF_SCOPE[name]
    elif name in SUPPORTED_MODULES:
        reason = f"only sentence-transformers' own {name} is built, never a class from another package"
    else:
        reason = "it is not a sentence-transformers text module this project knows (custom code is never run)"
    return (
        f"unsupported module type {module_type!r} (class {name}): {reason}. "
        f"Supported module classes: {', '.join(supported_classes())}"
    )
