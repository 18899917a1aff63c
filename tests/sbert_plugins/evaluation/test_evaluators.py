"""The evaluator protocol (prefixes, primary metric, CSV rows), direction checks on the tiny model, and
construction errors that name the argument at fault."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sbert_plugins import ConfigError, SentenceEncoder
from sbert_plugins.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    Evaluator,
    InformationRetrievalEvaluator,
    LabelAccuracyEvaluator,
    MSEEvaluator,
    RerankingEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)
from tests.sbert_plugins.evaluation.conftest import make_sentences

S1 = make_sentences(12, seed=21)
S2 = make_sentences(12, seed=22)
SCORES = [float(i % 5) for i in range(12)]


# ---- protocol ----------------------------------------------------------------------------------


def test_name_prefixes_every_metric_and_the_primary_one(tiny_encoder: SentenceEncoder) -> None:
    evaluator = EmbeddingSimilarityEvaluator(S1, S2, SCORES, similarity_fn_names=["cosine", "dot"], name="dev")
    metrics = evaluator(tiny_encoder)
    assert all(key.startswith("dev_") for key in metrics)
    assert evaluator.primary_metric == "dev_spearman_max"
    assert evaluator.primary_metric in metrics
    assert all(isinstance(value, float) for value in metrics.values())


def test_csv_rows_are_appended_with_one_header(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    evaluator = TripletEvaluator(S1, S1, S2, name="tri")
    evaluator(tiny_encoder)  # no output_path: nothing written
    assert not list(tmp_path.iterdir())
    first = evaluator(tiny_encoder, tmp_path, 0, 10)
    evaluator(tiny_encoder, tmp_path, epoch=1, steps=20)
    with (tmp_path / evaluator.csv_file).open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert evaluator.csv_file == "triplet_evaluation_tri_results.csv"
    assert rows[0] == ["epoch", "steps", "cosine_accuracy"]
    assert rows[1] == ["0", "10", str(first["tri_cosine_accuracy"])]
    assert rows[2][:2] == ["1", "20"] and len(rows) == 3


def test_write_csv_off_writes_nothing(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    EmbeddingSimilarityEvaluator(S1, S2, SCORES, write_csv=False)(tiny_encoder, tmp_path)
    assert not list(tmp_path.iterdir())


def test_primary_metric_follows_the_models_similarity(tiny_model_dir: Path) -> None:
    dot_model = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="dot")
    evaluator = EmbeddingSimilarityEvaluator(S1, S2, SCORES)
    metrics = evaluator(dot_model)
    assert set(metrics) == {"pearson_dot", "spearman_dot"}
    assert evaluator.primary_metric == "spearman_dot"


def test_custom_evaluator_subclass(tiny_encoder: SentenceEncoder) -> None:
    class Dim(Evaluator):
        def __init__(self) -> None:
            super().__init__(name="x", write_csv=False, csv_stem="dim")
            self.primary_metric = "dim"

        def compute(self, model: SentenceEncoder) -> dict[str, float]:
            return {"dim": model.embedding_dim}

    assert Dim()(tiny_encoder) == {"x_dim": 32.0}


# ---- direction checks --------------------------------------------------------------------------


def test_similarity_correlates_perfectly_with_its_own_scores(tiny_encoder: SentenceEncoder) -> None:
    own = [float(s) for s in tiny_encoder.similarity(tiny_encoder.encode(S1), tiny_encoder.encode(S2)).diagonal()]
    metrics = EmbeddingSimilarityEvaluator(S1, S2, own)(tiny_encoder)
    assert metrics["spearman_cosine"] == pytest.approx(1.0) and metrics["pearson_cosine"] == pytest.approx(1.0)
    negated = EmbeddingSimilarityEvaluator(S1, S2, [-s for s in own])(tiny_encoder)
    assert negated["spearman_cosine"] == pytest.approx(-1.0)


def test_identical_positives_win_every_triplet(tiny_encoder: SentenceEncoder) -> None:
    metrics = TripletEvaluator(S1, S1, S2, similarity_fn_names=["cosine", "euclidean"])(tiny_encoder)
    assert metrics == {"cosine_accuracy": 1.0, "euclidean_accuracy": 1.0, "max_accuracy": 1.0}
    assert TripletEvaluator(S1, S2, S1)(tiny_encoder)["cosine_accuracy"] == 0.0


def test_binary_classification_separates_identical_pairs(tiny_encoder: SentenceEncoder) -> None:
    labels = [1] * 6 + [0] * 6
    second = S1[:6] + S2[6:]
    metrics = BinaryClassificationEvaluator(S1, second, labels, similarity_fn_names=["cosine", "manhattan"])(
        tiny_encoder
    )
    for key in ("cosine_accuracy", "cosine_f1", "cosine_ap", "manhattan_accuracy", "manhattan_ap", "cosine_mcc"):
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics["manhattan_f1_threshold"] >= 0  # a distance, not a negated one


def test_information_retrieval_finds_the_documents_equal_to_the_queries(tiny_encoder: SentenceEncoder) -> None:
    corpus = {f"d{i}": text for i, text in enumerate(S1 + S2)}
    queries = {f"q{i}": S1[i] for i in range(5)}
    relevant = {f"q{i}": [f"d{i}"] for i in range(5)}
    metrics = InformationRetrievalEvaluator(queries, corpus, relevant, corpus_chunk_size=5)(tiny_encoder)
    for key in ("cosine_accuracy@1", "cosine_mrr@10", "cosine_ndcg@10", "cosine_map@100", "cosine_recall@1"):
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics["cosine_precision@3"] == pytest.approx(1 / 3)


def test_information_retrieval_results_do_not_depend_on_the_chunk_size(
    tiny_encoder: SentenceEncoder, ir_data: Any
) -> None:
    queries, corpus, relevant = ir_data
    results = [
        InformationRetrievalEvaluator(queries, corpus, relevant, corpus_chunk_size=size, map_at_k=[5])(tiny_encoder)
        for size in (1, 4, 1000)
    ]
    assert results[0] == pytest.approx(results[1]) and results[1] == pytest.approx(results[2])


def test_information_retrieval_applies_the_models_prompts(prompt_model_dir: Path, ir_data: Any) -> None:
    queries, corpus, relevant = ir_data
    with_prompts = SentenceEncoder(prompt_model_dir, device="cpu")
    without = SentenceEncoder(prompt_model_dir, device="cpu", prompts={})
    evaluator = InformationRetrievalEvaluator(queries, corpus, relevant)
    assert evaluator(with_prompts) != evaluator(without)
    explicit = InformationRetrievalEvaluator(
        queries, corpus, relevant, query_prompt="query: ", corpus_prompt="passage: "
    )
    assert explicit(without) == pytest.approx(evaluator(with_prompts))


def test_reranking_puts_the_identical_positive_first(tiny_encoder: SentenceEncoder) -> None:
    samples = [{"query": S1[i], "positive": [S1[i]], "negative": S2[:4]} for i in range(5)]
    metrics = RerankingEvaluator(samples, at_k=3)(tiny_encoder)
    assert metrics == {"map": 1.0, "mrr@3": 1.0, "ndcg@3": 1.0}


def test_mse_is_zero_against_the_models_own_embeddings(tiny_encoder: SentenceEncoder) -> None:
    evaluator = MSEEvaluator(S1, tiny_encoder.encode(S1))
    assert evaluator(tiny_encoder) == {"negative_mse": pytest.approx(0.0, abs=1e-9)}
    shifted = MSEEvaluator(S1, tiny_encoder.encode(S1) + 0.1)
    assert shifted(tiny_encoder)["negative_mse"] == pytest.approx(-1.0, rel=1e-4)  # 0.1² x 100
    with pytest.raises(ConfigError, match="truncate_dim"):
        MSEEvaluator(S1, np.zeros((12, 16)))(tiny_encoder)


def test_truncate_dim_applies_to_the_embeddings(tiny_encoder: SentenceEncoder) -> None:
    teacher = tiny_encoder.encode(S1)[:, :8]
    assert MSEEvaluator(S1, teacher, truncate_dim=8)(tiny_encoder)["negative_mse"] == pytest.approx(0.0, abs=1e-9)


def test_label_accuracy_with_a_hand_made_classifier(tiny_encoder: SentenceEncoder) -> None:
    def same_or_not(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        same = torch.nn.functional.cosine_similarity(u, v) > 0.9999
        return torch.stack([(~same).float(), same.float()], dim=1)

    second = S1[:4] + S2[4:]
    labels = [1] * 4 + [0] * 8
    assert LabelAccuracyEvaluator(S1, second, labels, same_or_not, batch_size=5)(tiny_encoder) == {"accuracy": 1.0}
    flipped = [1 - label for label in labels]
    assert LabelAccuracyEvaluator(S1, second, flipped, same_or_not)(tiny_encoder) == {"accuracy": 0.0}


def test_label_accuracy_restores_the_classifier_mode_and_checks_its_output(tiny_encoder: SentenceEncoder) -> None:
    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(64, 3)

        def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            assert not self.training
            return self.linear(torch.cat([u, v], dim=1))

    head = Head().train()
    LabelAccuracyEvaluator(S1, S2, [0] * 12, head)(tiny_encoder)
    assert head.training
    with pytest.raises(ConfigError, match="logits of shape"):
        LabelAccuracyEvaluator(S1, S2, [0] * 12, lambda u, v: u.sum(dim=1))(tiny_encoder)


def test_sequential_merges_and_scores(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    sts = EmbeddingSimilarityEvaluator(S1, S2, SCORES, name="sts")
    tri = TripletEvaluator(S1, S1, S2, name="tri")
    sequential = SequentialEvaluator([sts, tri], main_score_function=lambda scores: sum(scores) / len(scores))
    metrics = sequential(tiny_encoder, tmp_path)
    expected = (metrics["sts_spearman_cosine"] + metrics["tri_cosine_accuracy"]) / 2
    assert metrics["sequential_score"] == pytest.approx(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [sts.csv_file, tri.csv_file]
    clash = SequentialEvaluator([sts, EmbeddingSimilarityEvaluator(S2, S1, SCORES, name="sts")])
    with pytest.raises(ConfigError, match="distinct names"):
        clash(tiny_encoder)


# ---- construction errors -----------------------------------------------------------------------

ERRORS: list[tuple[str, Any, str]] = [
    ("sts empty", lambda: EmbeddingSimilarityEvaluator([], [], []), "sentences1 is empty"),
    ("sts lengths", lambda: EmbeddingSimilarityEvaluator(S1, S2[:3], SCORES), "sentences2=3"),
    ("sts text type", lambda: EmbeddingSimilarityEvaluator([*S1[:11], 5], S2, SCORES), r"sentences1\[11\] is int"),
    ("sts nan score", lambda: EmbeddingSimilarityEvaluator(S1, S2, [float("nan")] * 12), r"scores\[0\]"),
    ("sts one pair", lambda: EmbeddingSimilarityEvaluator(S1[:1], S2[:1], [1.0]), "at least two"),
    ("sts similarity", lambda: EmbeddingSimilarityEvaluator(S1, S2, SCORES, similarity_fn_names=["cos"]), "'cos'"),
    (
        "sts main not listed",
        lambda: EmbeddingSimilarityEvaluator(S1, S2, SCORES, similarity_fn_names=["dot"], main_similarity="cosine"),
        "main_similarity",
    ),
    ("sts main unknown", lambda: EmbeddingSimilarityEvaluator(S1, S2, SCORES, main_similarity="cos"), "'cos'"),
    ("sts batch size", lambda: EmbeddingSimilarityEvaluator(S1, S2, SCORES, batch_size=0), "batch_size"),
    ("sts truncate", lambda: EmbeddingSimilarityEvaluator(S1, S2, SCORES, truncate_dim=-1), "truncate_dim"),
    ("sts string", lambda: EmbeddingSimilarityEvaluator("abc", S2, SCORES), "sentences1 must be a list"),
    ("ir empty corpus", lambda: InformationRetrievalEvaluator({"q": "x"}, {}, {"q": ["d"]}), "corpus is empty"),
    ("ir no judged query", lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {"z": ["d"]}), "no query"),
    (
        "ir k zero",
        lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {"q": ["d"]}, ndcg_at_k=[0]),
        "ndcg_at_k",
    ),
    (
        "ir k empty",
        lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {"q": ["d"]}, mrr_at_k=[]),
        "mrr_at_k",
    ),
    ("ir relevant str", lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {"q": "d"}), "relevant_docs"),
    ("ir text type", lambda: InformationRetrievalEvaluator({"q": 1}, {"d": "y"}, {"q": ["d"]}), r"queries\['q'\]"),
    ("ir mixed ids", lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y", 1: "z"}, {"q": ["d"]}), "one type"),
    (
        "ir chunk",
        lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {"q": ["d"]}, corpus_chunk_size=0),
        "corpus_chunk_size",
    ),
    ("triplet lengths", lambda: TripletEvaluator(S1, S2, S2[:2]), "negatives=2"),
    ("triplet margin", lambda: TripletEvaluator(S1, S2, S2, margin={"cosin": 0.1}), "margin"),
    ("binary label", lambda: BinaryClassificationEvaluator(S1, S2, [2] * 12), r"labels\[0\] is 2"),
    ("binary lengths", lambda: BinaryClassificationEvaluator(S1, S2, [1]), "labels=1"),
    ("rerank empty", lambda: RerankingEvaluator([]), "non-empty"),
    ("rerank keys", lambda: RerankingEvaluator([{"query": "q", "positive": ["a"]}]), r"samples\[0\]"),
    (
        "rerank nothing left",
        lambda: RerankingEvaluator([{"query": "q", "positive": ["a"], "negative": []}]),
        "both a positive and a negative",
    ),
    ("rerank k", lambda: RerankingEvaluator([{"query": "q", "positive": "a", "negative": "b"}], at_k=0), "at_k"),
    ("mse shape", lambda: MSEEvaluator(S1, np.zeros(12)), "2-D"),
    ("mse lengths", lambda: MSEEvaluator(S1, np.zeros((3, 32))), "teacher_embeddings=3"),
    ("label negative", lambda: LabelAccuracyEvaluator(S1, S2, [-1] * 12, lambda u, v: u), r"labels\[0\]"),
    ("label classifier", lambda: LabelAccuracyEvaluator(S1, S2, [0] * 12, "head"), "callable"),
    ("sequential empty", lambda: SequentialEvaluator([]), "evaluators is empty"),
    ("sequential not evaluator", lambda: SequentialEvaluator([object()]), r"evaluators\[0\]"),
]


@pytest.mark.parametrize(("build", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_config_error_naming_them(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_reranking_skips_samples_that_cannot_be_ranked(caplog: pytest.LogCaptureFixture) -> None:
    evaluator = RerankingEvaluator(
        [{"query": "q", "positive": ["a"], "negative": []}, {"query": "q", "positive": "a", "negative": "b"}]
    )
    assert len(evaluator.samples) == 1
    assert "skipped 1 of 2" in caplog.text
