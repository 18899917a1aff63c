"""Building a SPLADE module chain from a local Hugging Face model folder (no sentence-transformers files needed)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sbert_plugins.errors import ConfigError
from sbert_plugins.modules.router import Router
from sbert_plugins.sparse.mlm_transformer import MLMTransformer
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from sbert_plugins.sparse.splade_pooling import SpladeActivation, SpladePooling, SpladePoolingStrategy


def splade_modules(
    path: str | Path,
    *,
    pooling: SpladePoolingStrategy = "max",
    activation: SpladeActivation = "relu",
    inference_free: bool = False,
    query_weights: Tensor | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
) -> list[nn.Module]:
    """The SPLADE modules for the Hugging Face model in ``path``: ``[MLMTransformer, SpladePooling]``, or with
    ``inference_free`` one Router whose ``"query"`` route is a :class:`SparseStaticEmbedding` (``query_weights``,
    default 1 for every token) and whose ``"document"`` route (the default) is that SPLADE chain.

    Raises:
        ConfigError: ``path`` is not a folder, or ``query_weights`` does not have one weight per vocabulary entry.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass the local folder of a Hugging Face model")
    mlm = MLMTransformer.load(folder, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    document: list[nn.Module] = [mlm, SpladePooling(pooling, activation, embedding_dimension=mlm.embedding_dim)]
    if not inference_free:
        if query_weights is not None:
            raise ConfigError("query_weights apply to inference_free=True models only")
        return document
    # The query side spans the document side's dimensions (the MLM head's outputs), so that every query token id
    # has a weight and query · document is defined even where the tokenizer lists fewer entries than ids.
    vocabulary = mlm.embedding_dim
    if query_weights is not None and tuple(query_weights.shape) != (vocabulary,):
        raise ConfigError(
            f"query_weights must have shape ({vocabulary},), one weight per output of the MLM head; "
            f"found {tuple(query_weights.shape)}"
        )
    weights = query_weights if query_weights is not None else torch.ones(vocabulary)
    static = SparseStaticEmbedding(mlm.tokenizer, weights)
    return [Router.for_query_document([static], document)]
