"""CrossEncoder: predict, rank, tokenize/forward and bad input, on a tiny sequence-classification BERT."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import ConfigError

from .cross_encoder_tiny import build_tiny_classifier

PAIRS = [
    ("a man plays the guitar", "a man is playing a guitar"),
    ("a dog runs in the park", "the cat sits on a chair"),
    ("two women are cooking food in the kitchen", "people cook"),
    ("hello", "world"),
    ("a child reads a book at night", "a young boy is reading a book"),
    ("what is the model", "a sentence embedding model maps text to a vector"),
    ("red car", "blue bike on the road in the city"),
]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("ce") / "model")


@pytest.fixture(scope="module")
def three_label_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("ce3") / "model", num_labels=3)


@pytest.fixture()
def model(classifier_dir: Path) -> CrossEncoder:
    return CrossEncoder(classifier_dir, device="cpu")


def one_by_one_logits(model: CrossEncoder, pairs: list[tuple[str, str]]) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(model.tokenize([pair])).numpy() for pair in pairs])


def test_predict_matches_unbatched_forward_and_applies_sigmoid_by_default(model: CrossEncoder) -> None:
    logits = one_by_one_logits(model, PAIRS)[:, 0]
    assert model.activation == "sigmoid"
    scores = model.predict(PAIRS)
    assert scores.shape == (len(PAIRS),)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits)), atol=1e-6)
    np.testing.assert_allclose(model.predict(PAIRS, activation="identity"), logits, atol=1e-5)
    assert np.ptp(logits) > 0.1  # the tiny model tells pairs apart, so the order checks below mean something


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_results_are_in_input_order_whatever_the_batching(model: CrossEncoder, batch_size: int) -> None:
    reference = model.predict(PAIRS, activation="identity")
    permutation = np.random.default_rng(batch_size).permutation(len(PAIRS))
    shuffled = model.predict([PAIRS[i] for i in permutation], batch_size=batch_size, activation="identity")
    np.testing.assert_allclose(shuffled, reference[permutation], atol=1e-5)


def test_predict_accepts_lists_tuples_and_generators_and_returns_torch_on_request(model: CrossEncoder) -> None:
    as_lists = model.predict([list(p) for p in PAIRS])
    from_generator = model.predict(p for p in PAIRS)
    tensor = model.predict(PAIRS, convert_to="torch")
    assert isinstance(tensor, torch.Tensor) and tensor.device.type == "cpu"
    np.testing.assert_allclose(as_lists, from_generator)
    np.testing.assert_allclose(tensor.numpy(), as_lists)


def test_multi_label_model_gives_one_row_per_pair_and_softmax_on_request(three_label_dir: Path) -> None:
    model = CrossEncoder(three_label_dir, device="cpu")
    assert model.num_labels == 3
    assert model.activation == "identity"
    logits = model.predict(PAIRS)
    assert logits.shape == (len(PAIRS), 3)
    np.testing.assert_allclose(logits, one_by_one_logits(model, PAIRS), atol=1e-5)
    probabilities = model.predict(PAIRS, activation="softmax")
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.argmax(axis=1))
    assert model.predict([]).shape == (0, 3)


def test_rank_sorts_by_score_and_keeps_ids_and_texts(model: CrossEncoder) -> None:
    query = "a man plays the guitar"
    documents = [d for _, d in PAIRS]
    scores = model.predict([(query, d) for d in documents])
    ranked = model.rank(query, documents, return_documents=True)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    assert all(r["text"] == documents[r["corpus_id"]] for r in ranked)
    assert [r["score"] for r in ranked] == sorted((float(s) for s in scores), reverse=True)
    top = model.rank(query, documents, top_k=3)
    assert top == [{"corpus_id": r["corpus_id"], "score": r["score"]} for r in ranked[:3]]
    assert len(model.rank(query, documents, top_k=100)) == len(documents)
    raw = model.rank(query, documents, activation="identity", top_k=1)[0]
    assert raw["corpus_id"] == ranked[0]["corpus_id"]
    assert 1 / (1 + np.exp(-raw["score"])) == pytest.approx(ranked[0]["score"], abs=1e-6)


def test_ties_in_rank_keep_input_order(model: CrossEncoder) -> None:
    ranked = model.rank("hello", ["world", "world", "world"])
    assert [r["corpus_id"] for r in ranked] == [0, 1, 2]


def test_empty_input_gives_empty_results(model: CrossEncoder) -> None:
    empty = model.predict([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0,)
    assert model.predict([], convert_to="torch").shape == (0,)
    assert model.rank("query", []) == []
    assert model.last_truncated_count == 0


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("a", "b"), "not a pair"], "pair at index 1 is str"),
        ([("a", "b"), ("a", "b"), ("only one",)], "pair at index 2 has 1 elements"),
        ([("a", "b"), ("a", 3)], "pair at index 1 has a int at position 1"),
        ([None], "pair at index 0 is NoneType"),
        ("a single string", "expected a sequence of (str, str) pairs"),
    ],
)
def test_a_pair_that_is_not_two_strings_is_a_type_error_naming_its_index(
    model: CrossEncoder, pairs: object, message: str
) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model.predict(pairs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="index" if "index" in message else "pairs"):
        model.tokenize(pairs)  # type: ignore[arg-type]


def test_rank_checks_query_documents_and_top_k(model: CrossEncoder) -> None:
    with pytest.raises(TypeError, match="query must be a string"):
        model.rank(["q"], ["d"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="index 1"):
        model.rank("q", ["d", 2])  # type: ignore[list-item]
    for top_k in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match="top_k"):
            model.rank("q", ["d"], top_k=top_k)  # type: ignore[arg-type]


def test_rank_refuses_a_multi_label_model(three_label_dir: Path) -> None:
    model = CrossEncoder(three_label_dir, device="cpu")
    with pytest.raises(ConfigError, match="num_labels=3"):
        model.rank("q", ["d"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"activation": "tanh"}, "activation"),
        ({"convert_to": "list"}, "convert_to"),
    ],
)
def test_bad_predict_options_are_config_errors(model: CrossEncoder, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        model.predict(PAIRS, **kwargs)


def test_bad_constructor_options_are_config_errors(classifier_dir: Path) -> None:
    with pytest.raises(ConfigError, match="max_length must be an integer from"):
        CrossEncoder(classifier_dir, device="cpu", max_length=10_000)
    with pytest.raises(ConfigError, match="max_length"):
        CrossEncoder(classifier_dir, device="cpu", max_length=2)
    with pytest.raises(ConfigError, match="activation"):
        CrossEncoder(classifier_dir, device="cpu", activation="relu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_labels must be a positive integer"):
        CrossEncoder(classifier_dir, device="cpu", num_labels=0)


def test_over_long_pairs_are_truncated_counted_and_warned_once(
    model: CrossEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    model.max_length = 16
    long_text = "a man plays the guitar in the park " * 6
    pairs = [(long_text, "a dog"), ("hello", "world"), ("a cat", long_text), ("two", "three")]
    with caplog.at_level(logging.WARNING, logger="sbert_plugins.cross_encoder"):
        scores = model.predict(pairs)
    assert model.last_truncated_count == 2
    warnings = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 4 pairs" in warnings[0].getMessage()
    features = model.tokenize(pairs)
    assert features["input_ids"].shape[1] == 16
    # Truncation cuts the longer text first: the short second text of pair 0 survives whole.
    first_row = model.tokenizer.decode(features["input_ids"][0], skip_special_tokens=False)
    assert first_row.rstrip().endswith("a dog [SEP]")
    assert np.isfinite(scores).all()
    model.predict([("hello", "world")])
    assert model.last_truncated_count == 0


def test_tokenize_marks_the_second_text_with_token_type_1(model: CrossEncoder) -> None:
    features = model.tokenize([("hello", "good world"), ("a", "b")])
    assert set(features) == {"input_ids", "attention_mask", "token_type_ids"}
    # [CLS] hello [SEP] | good world [SEP]
    assert features["token_type_ids"][0].tolist() == [0, 0, 0, 1, 1, 1]
    assert features["attention_mask"][1].tolist() == [1, 1, 1, 1, 1, 0]
    assert features["token_type_ids"][1].tolist()[-1] == 0  # padding


def test_forward_gives_trainable_logits_and_predict_restores_train_mode(model: CrossEncoder) -> None:
    model.train()
    logits = model(model.tokenize(PAIRS[:3]))
    assert logits.shape == (3, 1) and logits.requires_grad
    logits.sum().backward()
    assert model.model.classifier.weight.grad is not None
    model.predict(PAIRS)
    assert model.training
