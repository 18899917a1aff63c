"""SentenceEncoder.encode: shapes, order, options and bad input, on the tiny model."""

from __future__ import annotations

import logging
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins import ConfigError, SentenceEncoder

TEXTS = [
    "a man plays guitar",
    "hello",
    "two dogs are running in the park with a big red ball and a small blue ball",
    "",
    "the cat sits on the chair",
]


def test_list_gives_2d_float32_and_string_gives_1d(tiny_encoder: SentenceEncoder) -> None:
    batch = tiny_encoder.encode(TEXTS)
    assert batch.shape == (len(TEXTS), 32) and batch.dtype == np.float32
    single = tiny_encoder.encode(TEXTS[0])
    assert single.shape == (32,)
    np.testing.assert_allclose(single, batch[0], atol=1e-5)


def test_results_come_back_in_input_order_whatever_the_batch_size(tiny_encoder: SentenceEncoder) -> None:
    one_by_one = np.stack([tiny_encoder.encode(t) for t in TEXTS])
    for batch_size in (1, 2, 64):
        np.testing.assert_allclose(tiny_encoder.encode(TEXTS, batch_size=batch_size), one_by_one, atol=1e-5)
    np.testing.assert_allclose(tiny_encoder.encode(TEXTS, max_tokens_per_batch=8), one_by_one, atol=1e-5)


def test_empty_list_gives_zero_rows(tiny_encoder: SentenceEncoder) -> None:
    assert tiny_encoder.encode([]).shape == (0, 32)


@pytest.mark.parametrize(
    ("texts", "message"),
    [(None, "NoneType"), (["ok", None], "index 1 is NoneType"), (["ok", "fine", 3], "index 2 is int")],
)
def test_non_strings_raise_type_error_naming_the_index(tiny_encoder: SentenceEncoder, texts, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=message):
        tiny_encoder.encode(texts)


def test_bad_options_raise_config_error(tiny_encoder: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        tiny_encoder.encode(TEXTS, batch_size=0)
    with pytest.raises(ConfigError, match="truncate_dim"):
        tiny_encoder.encode(TEXTS, truncate_dim=33)
    with pytest.raises(ConfigError, match="convert_to"):
        tiny_encoder.encode(TEXTS, convert_to="list")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="output precision"):
        tiny_encoder.encode(TEXTS, output_precision="int4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="prompt_name 'query'"):
        tiny_encoder.encode(TEXTS, prompt_name="query")


def test_normalize_and_truncate_dim(tiny_encoder: SentenceEncoder) -> None:
    full = tiny_encoder.encode(TEXTS)
    normed = tiny_encoder.encode(TEXTS, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    short = tiny_encoder.encode(TEXTS, truncate_dim=8, normalize=True)
    expected = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-5)


def test_model_level_truncate_dim_sets_embedding_dim(tiny_model_dir: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu", truncate_dim=16)
    assert model.embedding_dim == 16
    assert model.encode(TEXTS).shape == (len(TEXTS), 16)


def test_torch_output(tiny_encoder: SentenceEncoder) -> None:
    out = tiny_encoder.encode(TEXTS, convert_to="torch")
    assert isinstance(out, torch.Tensor) and out.shape == (len(TEXTS), 32) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), tiny_encoder.encode(TEXTS), atol=1e-6)


@pytest.mark.parametrize(
    ("precision", "dtype", "columns"),
    [("int8", np.int8, 32), ("uint8", np.uint8, 32), ("binary", np.int8, 4), ("ubinary", np.uint8, 4)],
)
def test_output_quantization(tiny_encoder: SentenceEncoder, precision, dtype, columns) -> None:  # type: ignore[no-untyped-def]
    out = tiny_encoder.encode(TEXTS, output_precision=precision)
    assert out.dtype == dtype and out.shape == (len(TEXTS), columns)


def test_prompts_change_the_embedding_and_encode_queries_uses_them(tiny_model_dir: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu", prompts={"query": "query: ", "document": "document: "})
    plain = model.encode(TEXTS[:2])
    queries = model.encode_queries(TEXTS[:2])
    documents = model.encode_documents(TEXTS[:2])
    np.testing.assert_allclose(queries, model.encode(["query: " + t for t in TEXTS[:2]]), atol=1e-5)
    np.testing.assert_allclose(queries, model.encode(TEXTS[:2], prompt="query: "), atol=1e-5)
    assert not np.allclose(queries, plain) and not np.allclose(queries, documents)


def test_encode_queries_without_prompts_is_plain_encode(tiny_encoder: SentenceEncoder) -> None:
    np.testing.assert_allclose(tiny_encoder.encode_queries(TEXTS), tiny_encoder.encode(TEXTS), atol=1e-6)


def test_default_prompt_name_applies_to_encode(tiny_model_dir: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu", prompts={"query": "query: "}, default_prompt_name="query")
    np.testing.assert_allclose(model.encode(TEXTS[:2]), model.encode(TEXTS[:2], prompt="query: "), atol=1e-6)
    with pytest.raises(ConfigError, match="default_prompt_name"):
        SentenceEncoder(tiny_model_dir, device="cpu", default_prompt_name="missing")


def test_truncation_is_counted_and_warned(tiny_model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    model.max_seq_length = 8
    long_text = "the man plays guitar in the park with a dog and a cat"
    with caplog.at_level(logging.WARNING):
        model.encode([long_text, "hello", long_text])
    assert model.last_truncated_count == 2
    assert "2 of 3 texts were longer than max_seq_length=8" in caplog.text
    model.encode(["hello"])
    assert model.last_truncated_count == 0


def test_truncation_count_is_the_reading_threads_own(tiny_model_dir: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    model.max_seq_length = 8
    long_text = "the man plays guitar in the park with a dog and a cat"
    encoded, other_done = threading.Event(), threading.Event()
    counts: list[int] = []

    def ingest_like() -> None:  # encodes, then reads the count after another thread's call
        model.encode([long_text, long_text])
        encoded.set()
        other_done.wait(timeout=30)
        counts.append(model.last_truncated_count)

    reader = threading.Thread(target=ingest_like)
    reader.start()
    encoded.wait(timeout=30)
    model.encode(["hello"])  # another thread's call in between: before, it overwrote the count with 0
    other_done.set()
    reader.join(timeout=30)
    assert counts == [2] and model.last_truncated_count == 0
    copy = pickle.loads(pickle.dumps(model))
    assert copy.last_truncated_count == 0


def test_loaded_model_is_in_eval_mode_and_encode_keeps_the_mode(tiny_encoder: SentenceEncoder) -> None:
    assert not tiny_encoder.training
    expected = tiny_encoder.encode(TEXTS)
    tiny_encoder.train()
    out = tiny_encoder.encode(TEXTS, convert_to="torch")
    assert tiny_encoder.training and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)  # dropout was off while encoding


def test_forward_gives_differentiable_sentence_embedding(tiny_encoder: SentenceEncoder) -> None:
    features = tiny_encoder.tokenize(TEXTS[:2])
    assert set(features) >= {"input_ids", "attention_mask"}
    out = tiny_encoder(features)["sentence_embedding"]
    assert out.shape == (2, 32)
    out.sum().backward()
    assert any(p.grad is not None for p in tiny_encoder.parameters())


def test_similarity_uses_the_models_function(tiny_model_dir: Path) -> None:
    emb = np.array([[1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    assert SentenceEncoder(tiny_model_dir, device="cpu").similarity(emb, emb)[0, 1].item() == pytest.approx(1.0)
    dot = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="dot")
    assert dot.similarity(emb, emb)[0, 1].item() == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="similarity_fn_name"):
        SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="jaccard")


def test_model_facts_come_from_config(tiny_encoder: SentenceEncoder) -> None:
    assert tiny_encoder.embedding_dim == 32
    assert tiny_encoder.max_seq_length == 64
    assert tiny_encoder.similarity_fn_name == "cosine"
    assert tiny_encoder.device == torch.device("cpu")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_stays_close_to_fp32(tiny_model_dir: Path, precision: str) -> None:
    fp32 = SentenceEncoder(tiny_model_dir, device="cpu").encode(TEXTS, normalize=True)
    low = SentenceEncoder(tiny_model_dir, device="cpu", precision=precision).encode(TEXTS, normalize=True)  # type: ignore[arg-type]
    assert low.dtype == np.float32
    assert (np.sum(fp32 * low, axis=1) > 0.99).all()


def test_invalid_device_and_precision(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="precision"):
        SentenceEncoder(tiny_model_dir, precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="device"):
        SentenceEncoder(tiny_model_dir, device="tpu")


def test_progress_bar_can_be_forced(tiny_encoder: SentenceEncoder, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_encoder.encode(TEXTS, show_progress=True)
    assert "Encoding" in capsys.readouterr().err
    tiny_encoder.encode(TEXTS)
    assert "Encoding" not in capsys.readouterr().err
