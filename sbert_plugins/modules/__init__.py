"""The modules a :class:`~sbert_plugins.SentenceEncoder` chains: each reads and writes its own
sentence-transformers folder config, takes a ``features`` dict and returns it with new keys.
:mod:`sbert_plugins.modules.registry` lists the classes a saved model may name."""

from __future__ import annotations

from sbert_plugins.modules.dense import Dense
from sbert_plugins.modules.normalize import Normalize
from sbert_plugins.modules.pooling import POOLING_MODES, Pooling
from sbert_plugins.modules.router import Router
from sbert_plugins.modules.static_embedding import StaticEmbedding
from sbert_plugins.modules.transformer import Transformer

__all__ = ["POOLING_MODES", "Dense", "Normalize", "Pooling", "Router", "StaticEmbedding", "Transformer"]
