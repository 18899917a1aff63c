"""SBERTEmbeddings over an asymmetric (Router) model: queries take the query route, documents the document route."""

from __future__ import annotations

import numpy as np
import torch

from integrations.langchain import SBERTEmbeddings
from sbert_plugins import SentenceEncoder
from sbert_plugins.modules import Normalize, Router, StaticEmbedding


def test_queries_and_documents_take_their_routes(tiny_encoder: SentenceEncoder) -> None:
    torch.manual_seed(0)
    static = StaticEmbedding(tiny_encoder.tokenizer.backend_tokenizer, embedding_dim=32)
    model = SentenceEncoder(modules=[Router.for_query_document([static], list(tiny_encoder)), Normalize()])
    embeddings = SBERTEmbeddings(model=model)
    texts = ["a man plays the guitar", "the cat sits"]
    query = embeddings.embed_query(texts[0])
    documents = embeddings.embed_documents(texts)
    np.testing.assert_allclose(query, model.encode_queries(texts[0]), atol=1e-6)
    np.testing.assert_allclose(documents, model.encode_documents(texts), atol=1e-6)
    assert not np.allclose(query, documents[0], atol=1e-3)
