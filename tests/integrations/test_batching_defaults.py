"""The integrations batch with the encoder's token budget by default; a batch size given by the user caps it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from tests.integrations.corpus import make_docs, make_text

TEXTS = 100  # short texts: well within one token budget, but four batches of 32 under a fixed batch size
OLD_FIXED_BATCH = 32


def assert_token_budget(sizes: list[int]) -> None:
    """The passes of the encoder's own batching: every text once, in batches cut by length (on CPU), not by 32."""
    assert sum(sizes) == TEXTS and max(sizes) > OLD_FIXED_BATCH, sizes


def assert_capped(sizes: list[int], cap: int) -> None:
    assert sum(sizes) == TEXTS and max(sizes) <= cap and len(sizes) >= -(-TEXTS // cap), sizes


@contextmanager
def forward_passes(encoder: SentenceEncoder) -> Iterator[list[int]]:
    """Batch sizes of the transformer's forward passes while the block runs."""
    sizes: list[int] = []
    hook = encoder.transformer.register_forward_hook(lambda _m, args, _o: sizes.append(len(args[0]["input_ids"])))
    try:
        yield sizes
    finally:
        hook.remove()


def test_ingestors_use_the_token_budget(tiny_encoder: SentenceEncoder) -> None:
    pytest.importorskip("qdrant_client")
    from integrations.qdrant import QdrantIngestor

    with forward_passes(tiny_encoder) as sizes:
        QdrantIngestor(tiny_encoder, "a", path=":memory:").ingest(make_docs(TEXTS), show_progress=False)
    assert_token_budget(sizes)
    with forward_passes(tiny_encoder) as sizes:
        capped = QdrantIngestor(tiny_encoder, "b", path=":memory:", encode_batch_size=40)
        capped.ingest(make_docs(TEXTS), show_progress=False)
    assert_capped(sizes, 40)


def test_chroma_ingestor_uses_the_token_budget(tiny_encoder: SentenceEncoder, tmp_path: Any) -> None:
    pytest.importorskip("chromadb")
    from integrations.chroma import ChromaIngestor

    with forward_passes(tiny_encoder) as sizes, ChromaIngestor(tiny_encoder, "abc", path=tmp_path / "c") as ingestor:
        ingestor.ingest(make_docs(TEXTS), show_progress=False)
    assert_token_budget(sizes)


def test_langchain_embeddings_use_the_token_budget(tiny_encoder: SentenceEncoder) -> None:
    pytest.importorskip("langchain_core")
    from integrations.langchain import SBERTEmbeddings

    texts = [make_text(i) for i in range(TEXTS)]
    with forward_passes(tiny_encoder) as sizes:
        vectors = SBERTEmbeddings(model=tiny_encoder).embed_documents(texts)
    assert_token_budget(sizes)
    np.testing.assert_allclose(vectors, tiny_encoder.encode_documents(texts), rtol=0, atol=1e-5)
    with forward_passes(tiny_encoder) as sizes:
        SBERTEmbeddings(model=tiny_encoder, batch_size=30).embed_documents(texts)
    assert_capped(sizes, 30)


def test_ray_embedder_uses_the_token_budget(tiny_encoder: SentenceEncoder) -> None:
    from integrations.ray._embed import ActorSettings, Embedder

    embedder = Embedder(tiny_encoder, ActorSettings(num_cpus=0.5), "text", "embedding")
    with forward_passes(embedder.model) as sizes:
        embedder({"text": np.array([make_text(i) for i in range(TEXTS)], dtype=object)})
    assert_token_budget(sizes)
