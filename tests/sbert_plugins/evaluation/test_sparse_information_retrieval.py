"""SparseInformationRetrievalEvaluator against metrics computed by hand on fixed sparse vectors."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from sbert_plugins import ConfigError
from sbert_plugins.evaluation import SparseInformationRetrievalEvaluator

VECTORS = {
    "q1": [1.0, 0.0, 0.0, 0.0],
    "q2": [0.0, 1.0, 1.0, 0.0],
    "d1": [2.0, 0.0, 0.0, 0.0],
    "d2": [0.0, 1.0, 0.0, 0.0],
    "d3": [1.0, 0.0, 3.0, 1.0],
}
QUERIES = {"a": "q1", "b": "q2"}
CORPUS = {"x": "d1", "y": "d2", "z": "d3"}
RELEVANT = {"a": {"z"}, "b": {"y", "z"}}


class FixedSparseModel:
    """A stand-in SparseEncoder: each text's vector is fixed; records how it was asked to encode."""

    similarity_fn_name = "dot"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []

    def _vectors(self, how: str, texts: list[str], options: dict[str, Any]) -> Tensor:
        self.calls.append((how, tuple(texts), options))
        return torch.tensor([VECTORS[t] for t in texts]).to_sparse().coalesce()

    def encode_queries(self, texts: list[str], **options: Any) -> Tensor:
        return self._vectors("queries", texts, options)

    def encode_documents(self, texts: list[str], **options: Any) -> Tensor:
        return self._vectors("documents", texts, options)

    def encode(self, texts: list[str], **options: Any) -> Tensor:
        return self._vectors("encode", texts, options)

    def similarity(self, a: Tensor, b: Tensor) -> Tensor:
        return a.to_dense() @ b.to_dense().T


def test_metrics_match_the_hand_computed_ones() -> None:
    # q1 scores x=2, y=0, z=1 -> ranking x, z, y: its relevant z at rank 2.
    # q2 scores x=0, y=1, z=3 -> ranking z, y, x: both relevant documents first.
    evaluator = SparseInformationRetrievalEvaluator(
        QUERIES, CORPUS, RELEVANT, accuracy_at_k=[1, 3], precision_recall_at_k=[1], map_at_k=[10]
    )
    metrics = evaluator(FixedSparseModel())
    assert metrics["dot_accuracy@1"] == pytest.approx(0.5)
    assert metrics["dot_accuracy@3"] == pytest.approx(1.0)
    assert metrics["dot_precision@1"] == pytest.approx(0.5)
    assert metrics["dot_recall@1"] == pytest.approx((0 + 0.5) / 2)
    assert metrics["dot_mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["dot_ndcg@10"] == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert metrics["dot_map@10"] == pytest.approx((0.5 + 1.0) / 2)
    # Non-zeros: queries 1 and 2, documents 1, 1 and 3, over 4 dimensions.
    assert metrics["query_active_dims"] == pytest.approx(1.5)
    assert metrics["query_sparsity_ratio"] == pytest.approx(1 - 1.5 / 4)
    assert metrics["corpus_active_dims"] == pytest.approx(5 / 3)
    assert metrics["corpus_sparsity_ratio"] == pytest.approx(1 - (5 / 3) / 4)
    # P(q_j != 0) = (1/2, 1/2, 1/2, 0); P(d_j != 0) = (2/3, 1/3, 1/3, 1/3).
    assert metrics["avg_flops"] == pytest.approx(0.5 * 2 / 3 + 0.5 / 3 + 0.5 / 3)
    assert evaluator.primary_metric == "dot_ndcg@10"


def test_corpus_chunks_give_the_same_metrics_and_counts() -> None:
    whole = SparseInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT)(FixedSparseModel())
    chunked = SparseInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, corpus_chunk_size=2)(FixedSparseModel())
    assert chunked == pytest.approx(whole)


def test_queries_and_documents_take_their_own_side_and_options() -> None:
    model = FixedSparseModel()
    SparseInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, max_active_dims=2, batch_size=4)(model)
    (query_how, queries, options), (document_how, documents, _) = model.calls
    assert (query_how, queries) == ("queries", ("q1", "q2"))
    assert (document_how, documents) == ("documents", ("d1", "d2", "d3"))
    assert options["max_active_dims"] == 2 and options["batch_size"] == 4
    assert options["convert_to_sparse_tensor"] is True

    prompted = FixedSparseModel()
    SparseInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, query_prompt="query: ")(prompted)
    how, _, options = prompted.calls[0]
    assert how == "encode" and options["task"] == "query" and options["prompt"] == "query: "


def test_name_prefix_and_csv(tmp_path: Path) -> None:
    evaluator = SparseInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, name="dev")
    metrics = evaluator(FixedSparseModel(), tmp_path, 1, 5)
    assert evaluator.primary_metric == "dev_dot_ndcg@10" and "dev_corpus_active_dims" in metrics
    with (tmp_path / evaluator.csv_file).open(newline="") as handle:
        header, row = list(csv.reader(handle))
    assert evaluator.csv_file.startswith("sparse_") and "query_active_dims" in header and row[:2] == ["1", "5"]


def test_bad_max_active_dims_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_active_dims"):
        SparseInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, max_active_dims=0)


def test_a_tiny_splade_model_scores_as_in_the_reference(splade_dir: Path) -> None:
    from sentence_transformers import SparseEncoder as ReferenceSparseEncoder
    from sentence_transformers.sparse_encoder.evaluation import (
        SparseInformationRetrievalEvaluator as ReferenceEvaluator,
    )

    from sbert_plugins import SparseEncoder
    from tests.sbert_plugins.evaluation.conftest import make_sentences

    documents = make_sentences(30, seed=7)
    queries = {f"q{i}": " ".join(documents[i].split()[:3]) for i in range(0, 30, 3)}
    corpus = {f"d{i}": text for i, text in enumerate(documents)}
    relevant = {f"q{i}": {f"d{i}"} for i in range(0, 30, 3)}
    ours = SparseInformationRetrievalEvaluator(queries, corpus, relevant, max_active_dims=40, corpus_chunk_size=7)(
        SparseEncoder(splade_dir, device="cpu")
    )
    theirs = ReferenceEvaluator(queries, corpus, relevant, max_active_dims=40, corpus_chunk_size=7)(
        ReferenceSparseEncoder(str(splade_dir), device="cpu")
    )
    for key in ("dot_ndcg@10", "dot_mrr@10", "dot_recall@10", "dot_map@100"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
    for key in ("query_active_dims", "corpus_active_dims", "corpus_sparsity_ratio", "avg_flops"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-6), key
    assert ours["corpus_active_dims"] == pytest.approx(40)
