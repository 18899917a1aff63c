"""Sparse (SPLADE) encoders: the :class:`SparseEncoder`, its module types and the row format integrations use.

The module classes and rows import eagerly (the module registry builds them); ``SparseEncoder`` on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sbert_plugins.sparse.mlm_transformer import MLMTransformer
from sbert_plugins.sparse.rows import SparseVector, keep_top_k, sparse_rows
from sbert_plugins.sparse.sparse_auto_encoder import SparseAutoEncoder
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from sbert_plugins.sparse.splade_pooling import SpladePooling

if TYPE_CHECKING:
    from sbert_plugins.sparse.encoder import SparseEncoder


def __getattr__(name: str) -> Any:
    if name == "SparseEncoder":
        value = import_module("sbert_plugins.sparse.encoder").SparseEncoder
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sbert_plugins.sparse' has no attribute {name!r}")


__all__ = [
    "MLMTransformer",
    "SparseAutoEncoder",
    "SparseEncoder",
    "SparseStaticEmbedding",
    "SparseVector",
    "SpladePooling",
    "keep_top_k",
    "sparse_rows",
]
