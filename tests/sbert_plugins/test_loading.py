"""Loading and saving the sentence-transformers folder format, both ways, and the safety rules."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer

from sbert_plugins import ConfigError, ModelNotFoundError, SentenceEncoder, UnsafeModelError
from sbert_plugins.loading import HubOptions, resolve_model_path
from sbert_plugins.modules import Dense, Normalize, Pooling, Transformer

from ..conftest import build_tiny_modules

TEXTS = ["a man plays guitar", "the dog runs in the park", "hello world", ""]


def _reference(path: Path) -> SentenceTransformer:
    return SentenceTransformer(str(path), device="cpu")


def test_saved_folder_has_the_sentence_transformers_layout(tiny_model_dir: Path) -> None:
    modules = json.loads((tiny_model_dir / "modules.json").read_text())
    assert [m["type"] for m in modules] == [
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
    ]
    assert (tiny_model_dir / "model.safetensors").is_file()
    assert not list(tiny_model_dir.glob("*.bin"))
    assert json.loads((tiny_model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 64
    config = json.loads((tiny_model_dir / "config_sentence_transformers.json").read_text())
    assert config["similarity_fn_name"] == "cosine" and config["model_type"] == "SentenceTransformer"


def test_our_folder_loads_in_the_reference_with_the_same_embeddings(
    tiny_encoder: SentenceEncoder, tiny_model_dir: Path
) -> None:
    np.testing.assert_allclose(_reference(tiny_model_dir).encode(TEXTS), tiny_encoder.encode(TEXTS), atol=1e-5)


def test_dense_normalize_prompts_and_similarity_survive_both_directions(tmp_path: Path) -> None:
    torch.manual_seed(1)
    modules = [*build_tiny_modules(tmp_path / "build"), Dense(32, 16), Normalize()]
    model = SentenceEncoder(modules=modules, device="cpu", prompts={"query": "query: "}, similarity_fn_name="dot")
    model.save(tmp_path / "ours")
    assert (tmp_path / "ours" / "2_Dense" / "model.safetensors").is_file()

    ref = _reference(tmp_path / "ours")
    assert ref.similarity_fn_name == "dot" and ref.prompts["query"] == "query: "
    np.testing.assert_allclose(ref.encode(TEXTS), model.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(ref.encode(TEXTS, prompt_name="query"), model.encode_queries(TEXTS), atol=1e-5)

    ref.save(str(tmp_path / "theirs"))
    back = SentenceEncoder(tmp_path / "theirs", device="cpu")
    assert [type(m) for m in back] == [Transformer, Pooling, Dense, Normalize]
    assert back.similarity_fn_name == "dot" and back.prompts["query"] == "query: " and back.embedding_dim == 16
    np.testing.assert_allclose(back.encode(TEXTS), model.encode(TEXTS), atol=1e-5)


def test_reference_saved_folder_loads_with_the_same_embeddings(tiny_model_dir: Path, tmp_path: Path) -> None:
    ref = _reference(tiny_model_dir)
    ref.save(str(tmp_path / "theirs"))
    ours = SentenceEncoder(tmp_path / "theirs", device="cpu")
    assert ours.max_seq_length == 64
    np.testing.assert_allclose(ours.encode(TEXTS), ref.encode(TEXTS), atol=1e-5)


def test_plain_hugging_face_folder_falls_back_to_mean_pooling(
    tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain = tmp_path / "plain"
    SentenceEncoder(tiny_model_dir, device="cpu").transformer.auto_model.save_pretrained(plain)
    SentenceEncoder(tiny_model_dir, device="cpu").tokenizer.save_pretrained(plain)
    with caplog.at_level(logging.WARNING):
        model = SentenceEncoder(plain, device="cpu")
    assert "no modules.json" in caplog.text
    assert [type(m) for m in model] == [Transformer, Pooling] and model[1].modes == ("mean",)
    np.testing.assert_allclose(
        model.encode(TEXTS), SentenceEncoder(tiny_model_dir, device="cpu").encode(TEXTS), atol=1e-5
    )


def test_pickled_weights_are_refused_unless_allowed(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UnsafeModelError, match="pytorch_model.bin"):
        SentenceEncoder(folder, device="cpu")
    model = SentenceEncoder(folder, device="cpu", allow_pickle=True)
    np.testing.assert_allclose(
        model.encode(TEXTS), SentenceEncoder(tiny_model_dir, device="cpu").encode(TEXTS), atol=1e-5
    )


def test_unknown_module_type_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    shutil.copytree(tiny_model_dir, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "evil.package.Backdoor"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="entry 1 has unsupported module type 'evil.package.Backdoor'"):
        SentenceEncoder(folder, device="cpu")


def test_bad_similarity_in_config_names_the_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "badsim"
    shutil.copytree(tiny_model_dir, folder)
    path = folder / "config_sentence_transformers.json"
    config = json.loads(path.read_text())
    config["similarity_fn_name"] = "jaccard"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="config_sentence_transformers.json: similarity_fn_name 'jaccard'"):
        SentenceEncoder(folder, device="cpu")


def test_missing_model_lists_what_was_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model_path("someone/no-such-model", HubOptions(cache_dir=str(tmp_path)))
    message = str(info.value)
    assert "local folder 'someone/no-such-model'" in message
    assert "Hugging Face cache" in message and "skipped (HF_HUB_OFFLINE" in message
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        SentenceEncoder(tmp_path / "missing")


def test_model_in_the_hugging_face_cache_is_found_offline(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hub cache layout: models--org--name/snapshots/<revision>/ plus refs/main.
    repo = tmp_path / "models--acme--tiny"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = SentenceEncoder("acme/tiny", device="cpu", cache_dir=str(tmp_path))
    assert model.embedding_dim == 32


def test_default_model_resolves_offline_to_the_packaged_copy(minilm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (
        resolve_model_path("sentence-transformers/all-MiniLM-L6-v2", HubOptions(cache_dir="/nonexistent")) == minilm_dir
    )
    model = SentenceEncoder(device="cpu", cache_dir="/nonexistent")
    assert model.embedding_dim == 384 and model.max_seq_length == 256


def test_modules_and_name_are_exclusive(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        SentenceEncoder(tiny_model_dir, modules=[Normalize()])
    with pytest.raises(ConfigError, match="first module"):
        SentenceEncoder(modules=[Normalize()])
