"""sbert-plugins: Sentence-BERT embeddings, training and retrieval integrations.

Quick start::

    from sbert_plugins import SentenceEncoder
    model = SentenceEncoder()   # all-MiniLM-L6-v2, works offline
    embeddings = model.encode(["A man is playing a harp.", "A man plays a keyboard."])
"""

from __future__ import annotations

__version__ = "0.1.0"

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sbert_plugins.errors import (
    ConfigError,
    DataError,
    IntegrationError,
    MissingDependencyError,
    ModelNotFoundError,
    SbertPluginsError,
    UnsafeModelError,
)

# The models and the maths load torch and transformers; they are imported on first use, so that
# `import sbert_plugins.errors` (a CLI, a Ray worker, an integration's checks) stays cheap.
_LAZY = {
    "CrossEncoder": "sbert_plugins.cross_encoder",
    "SentenceEncoder": "sbert_plugins.encoder",
    "SparseEncoder": "sbert_plugins.sparse.encoder",
    "quantize_embeddings": "sbert_plugins.quantization",
    **dict.fromkeys(
        [
            "cos_sim",
            "dot_score",
            "euclidean_sim",
            "manhattan_sim",
            "paraphrase_mining",
            "paraphrase_mining_embeddings",
            "semantic_search",
        ],
        "sbert_plugins.similarity",
    ),
}

if TYPE_CHECKING:
    from sbert_plugins.cross_encoder import CrossEncoder
    from sbert_plugins.encoder import SentenceEncoder
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
    from sbert_plugins.sparse.encoder import SparseEncoder


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sbert_plugins' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ConfigError",
    "CrossEncoder",
    "DataError",
    "IntegrationError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "SbertPluginsError",
    "SentenceEncoder",
    "SparseEncoder",
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
