"""Every evaluator returns the reference evaluator's metrics (sentence-transformers) on the same model
and data, key by key, within 1e-6."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from sbert_plugins import SentenceEncoder
from sbert_plugins.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    LabelAccuracyEvaluator,
    MSEEvaluator,
    RerankingEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)
from tests.sbert_plugins.evaluation.conftest import make_sentences

st = pytest.importorskip("sentence_transformers")
ref_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
ref_util = pytest.importorskip("sentence_transformers.util")

ALL_FNS = ["cosine", "dot", "euclidean", "manhattan"]


def load_pair(folder: Path) -> tuple[SentenceEncoder, object]:
    ours = SentenceEncoder(folder, device="cpu")
    reference = st.SentenceTransformer(str(folder), device="cpu")
    reference.eval()
    return ours, reference


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path) -> tuple[SentenceEncoder, object]:
    return load_pair(tiny_model_dir)


@pytest.fixture(scope="module")
def prompt_models(prompt_model_dir: Path) -> tuple[SentenceEncoder, object]:
    return load_pair(prompt_model_dir)


def assert_same_metrics(ours: dict[str, float], reference: dict[str, float]) -> None:
    assert set(ours) == set(reference)
    for key, expected in reference.items():
        expected = float(expected)
        if math.isnan(expected):
            assert math.isnan(ours[key]), key
        else:
            assert ours[key] == pytest.approx(expected, abs=1e-6, rel=1e-6), key


def sts_data(n: int = 40) -> tuple[list[str], list[str], list[float]]:
    rng = random.Random(3)
    # Scores on a 0.5 grid: many ties, so Spearman's average ranks matter.
    return make_sentences(n, seed=1), make_sentences(n, seed=2), [rng.randint(0, 10) / 2 for _ in range(n)]


@pytest.mark.parametrize("fns", [None, ["dot"], ALL_FNS])
def test_embedding_similarity(models, fns) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = models
    s1, s2, scores = sts_data()
    ours = EmbeddingSimilarityEvaluator(s1, s2, scores, similarity_fn_names=fns, name="sts")
    reference = ref_eval.EmbeddingSimilarityEvaluator(s1, s2, scores, similarity_fn_names=fns, name="sts")
    ref_metrics = reference(ref_model)
    assert_same_metrics(ours(ours_model), ref_metrics)
    assert ours.primary_metric == reference.primary_metric


def test_embedding_similarity_main_similarity(models) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = models
    s1, s2, scores = sts_data()
    ours = EmbeddingSimilarityEvaluator(s1, s2, scores, similarity_fn_names=ALL_FNS, main_similarity="euclidean")
    reference = ref_eval.EmbeddingSimilarityEvaluator(
        s1, s2, scores, similarity_fn_names=ALL_FNS, main_similarity="euclidean"
    )
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric == "spearman_euclidean"


@pytest.mark.parametrize("fns", [None, ALL_FNS])
def test_information_retrieval(prompt_models, ir_data, fns) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = prompt_models
    queries, corpus, relevant = ir_data
    cutoffs = {
        "accuracy_at_k": [1, 3, 5],
        "precision_recall_at_k": [1, 2, 10],
        "mrr_at_k": [3, 10],
        "ndcg_at_k": [5, 10],
        "map_at_k": [4, 100],
    }
    ours = InformationRetrievalEvaluator(
        queries, corpus, relevant, corpus_chunk_size=7, similarity_fn_names=fns, name="ir", **cutoffs
    )
    score_functions = None
    if fns is not None:
        functions = {
            "cosine": ref_util.cos_sim,
            "dot": ref_util.dot_score,
            "euclidean": ref_util.euclidean_sim,
            "manhattan": ref_util.manhattan_sim,
        }
        score_functions = {fn: functions[fn] for fn in fns}
    reference = ref_eval.InformationRetrievalEvaluator(
        queries, corpus, relevant, corpus_chunk_size=7, score_functions=score_functions, name="ir", **cutoffs
    )
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric


def test_information_retrieval_explicit_prompts(prompt_models, ir_data) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = prompt_models
    queries, corpus, relevant = ir_data
    options = {"query_prompt": "search: ", "corpus_prompt_name": "query"}
    ours = InformationRetrievalEvaluator(queries, corpus, relevant, **options)
    reference = ref_eval.InformationRetrievalEvaluator(queries, corpus, relevant, **options)
    assert_same_metrics(ours(ours_model), reference(ref_model))


@pytest.mark.parametrize(("fns", "margin"), [(None, 0.0), (ALL_FNS, 0.0), (["cosine", "dot"], {"cosine": 0.05})])
def test_triplet(prompt_models, fns, margin) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = prompt_models
    anchors, positives, negatives = make_sentences(30, seed=4), make_sentences(30, seed=5), make_sentences(30, seed=6)
    ours = TripletEvaluator(anchors, positives, negatives, similarity_fn_names=fns, margin=margin, name="tri")
    reference = ref_eval.TripletEvaluator(
        anchors, positives, negatives, similarity_fn_names=fns, margin=margin, name="tri"
    )
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric


@pytest.mark.parametrize("fns", [None, ALL_FNS])
def test_binary_classification(models, fns) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = models
    rng = random.Random(8)
    s1, s2 = make_sentences(50, seed=7), make_sentences(50, seed=8)
    s2[:5] = s1[:5]  # identical pairs: the top scores tie
    labels = [1] * 5 + [rng.randint(0, 1) for _ in s1[5:]]
    ours = BinaryClassificationEvaluator(s1, s2, labels, similarity_fn_names=fns, name="bin")
    reference = ref_eval.BinaryClassificationEvaluator(s1, s2, labels, similarity_fn_names=fns, name="bin")
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric


def reranking_samples() -> list[dict[str, object]]:
    rng = random.Random(9)
    samples: list[dict[str, object]] = []
    for i in range(12):
        samples.append(
            {
                "query": make_sentences(1, seed=100 + i)[0],
                "positive": make_sentences(rng.randint(1, 3), seed=200 + i),
                "negative": make_sentences(rng.randint(1, 12), seed=300 + i),
            }
        )
    samples.append({"query": "no negatives here", "positive": ["a dog"], "negative": []})
    samples.append({"query": "a single string each", "positive": "a red car", "negative": "a blue bike"})
    return samples


@pytest.mark.parametrize(("fn", "ref_fn", "at_k"), [(None, "cos_sim", 10), ("dot", "dot_score", 3)])
def test_reranking(prompt_models, fn, ref_fn, at_k) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = prompt_models
    samples = reranking_samples()
    ours = RerankingEvaluator(samples, at_k=at_k, similarity_fn_name=fn, name="rr")
    reference = ref_eval.RerankingEvaluator(samples, at_k=at_k, similarity_fct=getattr(ref_util, ref_fn), name="rr")
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric


def test_mse(models, teacher_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = models
    ours_teacher, ref_teacher = load_pair(teacher_model_dir)
    sources, targets = make_sentences(25, seed=10), make_sentences(25, seed=11)
    ours = MSEEvaluator.from_teacher(ours_teacher, sources, targets, name="mse")
    reference = ref_eval.MSEEvaluator(sources, targets, teacher_model=ref_teacher, name="mse")
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric


def test_label_accuracy(models) -> None:  # type: ignore[no-untyped-def]
    from torch.utils.data import DataLoader

    ours_model, ref_model = models
    s1, s2 = make_sentences(40, seed=12), make_sentences(40, seed=13)
    torch.manual_seed(0)
    from sentence_transformers.sentence_transformer.losses import SoftmaxLoss

    softmax = SoftmaxLoss(ref_model, sentence_embedding_dimension=32, num_labels=3)
    with torch.no_grad():
        # Labels half agreeing with the head's predictions, so the accuracy is neither 0 nor chance.
        u, v = (torch.as_tensor(ref_model.encode(s)) for s in (s1, s2))
        predicted = softmax.classifier(torch.cat([u, v, (u - v).abs()], dim=1)).argmax(dim=1).tolist()
    labels = [p if i % 2 == 0 else (p + 1) % 3 for i, p in enumerate(predicted)]
    examples = [st.InputExample(texts=[a, b], label=label) for a, b, label in zip(s1, s2, labels, strict=True)]
    reference = ref_eval.LabelAccuracyEvaluator(DataLoader(examples, batch_size=8), name="nli", softmax_model=softmax)

    def head(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return softmax.classifier(torch.cat([u, v, (u - v).abs()], dim=1))

    ours = LabelAccuracyEvaluator(s1, s2, labels, head, batch_size=8, name="nli")
    ref_metrics = reference(ref_model)
    assert ref_metrics["nli_accuracy"] == 0.5
    assert_same_metrics(ours(ours_model), ref_metrics)
    assert ours.primary_metric == reference.primary_metric


def test_sequential(models) -> None:  # type: ignore[no-untyped-def]
    ours_model, ref_model = models
    s1, s2, scores = sts_data()
    triplets = make_sentences(20, seed=4), make_sentences(20, seed=5), make_sentences(20, seed=6)
    ours = SequentialEvaluator(
        [EmbeddingSimilarityEvaluator(s1, s2, scores, name="sts"), TripletEvaluator(*triplets, name="tri")]
    )
    reference = ref_eval.SequentialEvaluator(
        [
            ref_eval.EmbeddingSimilarityEvaluator(s1, s2, scores, name="sts"),
            ref_eval.TripletEvaluator(*triplets, name="tri"),
        ]
    )
    assert_same_metrics(ours(ours_model), reference(ref_model))
    assert ours.primary_metric == reference.primary_metric == "sequential_score"
