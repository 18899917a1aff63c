"""sbert-plugins: Sentence-BERT embeddings, training and retrieval integrations.

Quick start::

    from sbert_plugins import SentenceEncoder
    model = SentenceEncoder()   # all-MiniLM-L6-v2, works offline
    embeddings = model.encode(["A man is playing a harp.", "A man plays a keyboard."])
"""

from __future__ import annotations

__version__ = "0.1.0"

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import (
    ConfigError,
    DataError,
    IntegrationError,
    MissingDependencyError,
    ModelNotFoundError,
    SbertPluginsError,
    UnsafeModelError,
)
from sbert_plugins.quantization import quantize_embeddings
from sbert_plugins.similarity import (
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
)

__all__ = [
    "ConfigError",
    "CrossEncoder",
    "DataError",
    "IntegrationError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "SbertPluginsError",
    "SentenceEncoder",
    "UnsafeModelError",
    "__version__",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "quantize_embeddings",
    "semantic_search",
]
