"""Cross-encoders: score and re-rank text pairs with a transformer that reads both texts at once.

::

    from sbert_plugins.cross_encoder import CrossEncoder
    model = CrossEncoder("path/to/reranker")
    scores = model.predict([("How old is the sun?", "The sun is 4.6 billion years old."), ...])
    best = model.rank("How old is the sun?", documents, top_k=3, return_documents=True)
"""

from __future__ import annotations

from sbert_plugins.cross_encoder._files import ACTIVATIONS, Activation
from sbert_plugins.cross_encoder.model import CrossEncoder

__all__ = ["ACTIVATIONS", "Activation", "CrossEncoder"]
