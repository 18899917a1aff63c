"""Haystack components: dense and sparse embedders and a ranker over sbert-plugins models.

Example::

    from haystack import Pipeline
    from integrations.haystack import SBERTDocumentEmbedder, SBERTTextEmbedder

    indexing = Pipeline()
    indexing.add_component("embedder", SBERTDocumentEmbedder(model="out/my-model"))
    ...
    yaml_text = indexing.dumps()
    again = Pipeline.loads(yaml_text, allowed_modules=ALLOWED_MODULES)

Haystack 3 imports only allowlisted modules when it loads a pipeline; ``ALLOWED_MODULES``
(``["integrations.haystack"]``) is the one entry these components need, per call
(``allowed_modules=``) or process-wide (``HAYSTACK_DESERIALIZATION_ALLOWLIST=integrations.haystack``).

Needs ``haystack-ai``: ``pip install "sbert-plugins[haystack]"``.
"""

from __future__ import annotations

import importlib.util

from sbert_plugins.errors import missing_dependency

if importlib.util.find_spec("haystack") is None:
    raise missing_dependency("haystack-ai", "haystack")

from integrations.haystack.embedders import SBERTDocumentEmbedder, SBERTTextEmbedder
from integrations.haystack.ranker import SBERTRanker
from integrations.haystack.sparse import SBERTSparseDocumentEmbedder, SBERTSparseTextEmbedder
from integrations.haystack.stack import stack_query_inputs, stack_query_pipeline

# The deserialization allowlist entry a saved pipeline with these components needs (and nothing wider).
ALLOWED_MODULES = ["integrations.haystack"]

__all__ = [
    "ALLOWED_MODULES",
    "SBERTDocumentEmbedder",
    "SBERTRanker",
    "SBERTSparseDocumentEmbedder",
    "SBERTSparseTextEmbedder",
    "SBERTTextEmbedder",
    "stack_query_inputs",
    "stack_query_pipeline",
]
