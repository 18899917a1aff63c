"""The modules a :class:`~sbert_plugins.SentenceEncoder` chains: each reads and writes its own
sentence-transformers folder config, takes a ``features`` dict and returns it with new keys.
:mod:`sbert_plugins.modules.registry` lists the classes a saved model may name."""

from __future__ import annotations

from sbert_plugins.modules.bow import BoW
from sbert_plugins.modules.cnn import CNN
from sbert_plugins.modules.dense import Dense
from sbert_plugins.modules.dropout import Dropout
from sbert_plugins.modules.layer_norm import LayerNorm
from sbert_plugins.modules.lstm import LSTM
from sbert_plugins.modules.normalize import Normalize
from sbert_plugins.modules.pooling import POOLING_MODES, Pooling
from sbert_plugins.modules.router import Router
from sbert_plugins.modules.static_embedding import StaticEmbedding
from sbert_plugins.modules.transformer import Transformer
from sbert_plugins.modules.weighted_layer_pooling import WeightedLayerPooling
from sbert_plugins.modules.word_embeddings import WordEmbeddings
from sbert_plugins.modules.word_tokenizer import WhitespaceTokenizer
from sbert_plugins.modules.word_weights import WordWeights

__all__ = [
    "CNN",
    "LSTM",
    "POOLING_MODES",
    "BoW",
    "Dense",
    "Dropout",
    "LayerNorm",
    "Normalize",
    "Pooling",
    "Router",
    "StaticEmbedding",
    "Transformer",
    "WeightedLayerPooling",
    "WhitespaceTokenizer",
    "WordEmbeddings",
    "WordWeights",
]
