"""Building a SPLADE module chain from a local Hugging Face model folder (no sentence-transformers files needed)."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import Tensor, nn

from sbert_plugins.errors import ConfigError
from sbert_plugins.modules.router import Router
from sbert_plugins.sparse.mlm_transformer import MLMTransformer
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from sbert_plugins.sparse.splade_pooling import SpladeActivation, SpladePooling, SpladePoolingStrategy

logger = logging.getLogger(__name__)


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
    vocabulary = len(mlm.tokenizer.get_vocab())
    if query_weights is not None and tuple(query_weights.shape) != (vocabulary,):
        raise ConfigError(
            f"query_weights must have shape ({vocabulary},), one weight per token of the tokenizer's vocabulary; "
            f"found {tuple(query_weights.shape)}"
        )
    if vocabulary != mlm.embedding_dim:  # as in the reference; query and document vectors then differ in size
        logger.warning(
            "%s: the tokenizer has %d tokens but the MLM head %d outputs; query vectors will have %d dimensions "
            "and document vectors %d",
            folder,
            vocabulary,
            mlm.embedding_dim,
            vocabulary,
            mlm.embedding_dim,
        )
    static = SparseStaticEmbedding(mlm.tokenizer, query_weights)
    return [Router.for_query_document([static], document)]
