"""Scale out with Ray Data (the optional ``[ray]`` extra): embed datasets and ingest them into Qdrant or Chroma.

    from integrations.ray import embed_dataset, ingest_dataset, read_jsonl, ChromaTarget

    embedded = embed_dataset(ds, "path/to/model", concurrency=4, num_gpus=1)
    summary = ingest_dataset(read_jsonl("corpus.jsonl"), "path/to/model",
                             ChromaTarget(collection="docs", url="http://chroma:8000"), concurrency=4)

Importing this package does not import Ray; the functions raise ``MissingDependencyError`` (with
``pip install "sbert-plugins[ray]"``) when it is absent.
"""

from __future__ import annotations

from integrations.ray._embed import ActorSettings, Embedder, embed_dataset
from integrations.ray._targets import ChromaTarget, QdrantTarget
from integrations.ray._write import ingest_dataset, read_jsonl

__all__ = [
    "ActorSettings",
    "ChromaTarget",
    "Embedder",
    "QdrantTarget",
    "embed_dataset",
    "ingest_dataset",
    "read_jsonl",
]
