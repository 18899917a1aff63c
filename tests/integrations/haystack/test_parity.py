"""Slow: the packaged all-MiniLM-L6-v2 gives the same embeddings as sentence-transformers-haystack's components."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from integrations.haystack import SBERTDocumentEmbedder, SBERTTextEmbedder

st_haystack = pytest.importorskip("haystack_integrations.components.embedders.sentence_transformers")

pytestmark = pytest.mark.slow


def test_same_embeddings_as_sentence_transformers_haystack(minilm_dir: Path) -> None:
    documents = [
        Document(content="The sun is a star at the centre of the solar system.", meta={"title": "Sun"}),
        Document(content="Harps have strings " * 40, meta={"title": "A long one"}),
        Document(content="Short.", meta={}),
    ]
    options = {"model": str(minilm_dir), "meta_fields_to_embed": ["title"], "progress_bar": False}
    ours = SBERTDocumentEmbedder(**options).run(documents)["documents"]
    peer = st_haystack.SentenceTransformersDocumentEmbedder(**options, local_files_only=True)
    peer.warm_up()
    theirs = peer.run(documents)["documents"]
    np.testing.assert_allclose([d.embedding for d in ours], [d.embedding for d in theirs], atol=1e-5)

    query_peer = st_haystack.SentenceTransformersTextEmbedder(model=str(minilm_dir), local_files_only=True)
    query_peer.warm_up()
    query = "what is at the centre of the solar system?"
    np.testing.assert_allclose(
        SBERTTextEmbedder(model=str(minilm_dir)).run(query)["embedding"],
        query_peer.run(query)["embedding"],
        atol=1e-5,
    )
