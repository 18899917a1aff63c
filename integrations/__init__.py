"""Integrations of sbert-plugins with other libraries, each behind an optional extra.

- ``integrations.langchain``: ``SBERTEmbeddings``, ``SBERTReranker``, ``RerankingRetriever``
  (``pip install "sbert-plugins[langchain]"``).
- ``integrations.qdrant`` and ``integrations.chroma``: ingestors and search helpers
  (``[qdrant]`` / ``[chroma]``).
- ``integrations.serve``: an OpenAI-compatible embeddings and re-rank HTTP server (``[serve]``).
- ``integrations.haystack``: embedders (dense and BM25 sparse) and ``SBERTRanker`` as Haystack
  components (``[haystack]``).

This package imports only the core (``sbert_plugins``); vendor libraries are imported by the
sub-module that needs them, never here, so ``import integrations`` works without any extra installed.
A missing vendor library raises :class:`sbert_plugins.errors.MissingDependencyError` with the
``pip install`` command that adds it.
"""
