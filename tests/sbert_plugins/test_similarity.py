"""Similarity functions, semantic search and paraphrase mining against the reference utilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as ref_util

from sbert_plugins import ConfigError, SentenceEncoder, cos_sim, dot_score, paraphrase_mining, semantic_search
from sbert_plugins.similarity import euclidean_sim, manhattan_sim, paraphrase_mining_embeddings, similarity_function

RNG = np.random.default_rng(0)
A = RNG.normal(size=(5, 16)).astype(np.float32)
B = RNG.normal(size=(7, 16)).astype(np.float32)


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (cos_sim, ref_util.cos_sim),
        (dot_score, ref_util.dot_score),
        (euclidean_sim, ref_util.euclidean_sim),
        (manhattan_sim, ref_util.manhattan_sim),
    ],
)
def test_pairwise_functions_equal_the_reference(ours, ref) -> None:  # type: ignore[no-untyped-def]
    torch.testing.assert_close(ours(A, B), ref(torch.from_numpy(A), torch.from_numpy(B)), atol=1e-5, rtol=1e-5)


def test_one_dimensional_inputs_and_lookup_by_name() -> None:
    assert cos_sim(A[0], A[0]).shape == (1, 1)
    assert similarity_function("dot") is dot_score
    with pytest.raises(ConfigError, match="unknown similarity function 'jaccard'"):
        similarity_function("jaccard")


@pytest.mark.parametrize("corpus_chunk_size", [3, 1000])
def test_semantic_search_equals_the_reference_at_any_chunk_size(corpus_chunk_size: int) -> None:
    queries = RNG.normal(size=(9, 16)).astype(np.float32)
    corpus = RNG.normal(size=(50, 16)).astype(np.float32)
    ours = semantic_search(queries, corpus, top_k=5, query_chunk_size=4, corpus_chunk_size=corpus_chunk_size)
    ref = ref_util.semantic_search(torch.from_numpy(queries), torch.from_numpy(corpus), top_k=5)
    assert [[h["corpus_id"] for h in hits] for hits in ours] == [[h["corpus_id"] for h in hits] for hits in ref]
    np.testing.assert_allclose(
        [[h["score"] for h in hits] for hits in ours], [[h["score"] for h in hits] for hits in ref], atol=1e-5
    )


def test_semantic_search_top_k_larger_than_corpus_and_validation() -> None:
    hits = semantic_search(A[:2], B[:3], top_k=10)
    assert [len(h) for h in hits] == [3, 3]
    with pytest.raises(ConfigError, match="top_k must be a positive integer, found 0"):
        semantic_search(A, B, top_k=0)
    with pytest.raises(ConfigError, match="dimension"):
        semantic_search(A, B[:, :8])


def test_paraphrase_mining_embeddings_equals_the_reference() -> None:
    emb = RNG.normal(size=(30, 8)).astype(np.float32)
    ours = paraphrase_mining_embeddings(emb, top_k=3, max_pairs=20, chunk_size=7)
    ref = ref_util.paraphrase_mining_embeddings(torch.from_numpy(emb), top_k=3, max_pairs=20)
    assert [(i, j) for _, i, j in ours] == [(i, j) for _, i, j in ref]
    np.testing.assert_allclose([s for s, _, _ in ours], [s for s, _, _ in ref], atol=1e-5)


def test_paraphrase_mining_finds_the_duplicate(tiny_encoder: SentenceEncoder) -> None:
    sentences = ["a man plays guitar", "the sun and the moon", "a man plays guitar", "red car on the road"]
    best = paraphrase_mining(tiny_encoder, sentences, top_k=2)[0]
    assert best[1:] == (0, 2) and best[0] == pytest.approx(1.0, abs=1e-5)
