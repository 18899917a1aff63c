"""CrossEncoder folders: the layouts it reads, a fresh head on an encoder checkpoint, and saving in a
form the reference sentence-transformers CrossEncoder loads with identical scores (and back)."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import CrossEncoder as ReferenceCrossEncoder

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import ConfigError, UnsafeModelError

from .cross_encoder_tiny import build_tiny_classifier
from .test_cross_encoder import PAIRS

LONG_PAIRS = [*PAIRS, ("a man plays the guitar in the park " * 6, "a dog"), ("a cat", "big red house " * 20)]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_classifier(tmp_path_factory.mktemp("ce-files") / "model", seed=1)


def reference(path: Path, **kwargs: object) -> ReferenceCrossEncoder:
    return ReferenceCrossEncoder(str(path), device="cpu", **kwargs)


@pytest.mark.parametrize("activation", [None, "identity"])
def test_plain_hugging_face_folder_scores_like_the_reference(classifier_dir: Path, activation: str | None) -> None:
    ours = CrossEncoder(classifier_dir, device="cpu", activation=activation)  # type: ignore[arg-type]
    ref = reference(classifier_dir, activation_fn=torch.nn.Identity() if activation else None)
    assert ours.has_trained_head
    assert ours.max_length == ref.max_seq_length == 128
    np.testing.assert_allclose(ours.predict(LONG_PAIRS), ref.predict(LONG_PAIRS), atol=1e-5)


def test_saved_folder_loads_in_the_reference_with_identical_scores(classifier_dir: Path, tmp_path: Path) -> None:
    ours = CrossEncoder(classifier_dir, device="cpu", max_length=24, activation="identity")
    ours.save(tmp_path / "saved")
    ref = reference(tmp_path / "saved")
    assert ref.max_seq_length == 24
    assert isinstance(ref.activation_fn, torch.nn.Identity)
    expected = ours.predict(LONG_PAIRS)
    assert ours.last_truncated_count == 2
    np.testing.assert_allclose(ref.predict(LONG_PAIRS), expected, atol=1e-5)
    ranked = ours.rank("a man plays the guitar", [d for _, d in LONG_PAIRS])
    ref_ranked = ref.rank("a man plays the guitar", [d for _, d in LONG_PAIRS])
    assert [r["corpus_id"] for r in ranked] == [r["corpus_id"] for r in ref_ranked]
    np.testing.assert_allclose([r["score"] for r in ranked], [r["score"] for r in ref_ranked], atol=1e-5)

    again = CrossEncoder(tmp_path / "saved", device="cpu")
    assert (again.max_length, again.activation, again.num_labels) == (24, "identity", 1)
    np.testing.assert_allclose(again.predict(LONG_PAIRS), expected, atol=1e-6)
    # Only safetensors weights are written.
    assert not list((tmp_path / "saved").glob("*.bin"))


def test_reference_saved_folder_loads_with_identical_scores(classifier_dir: Path, tmp_path: Path) -> None:
    ref = reference(classifier_dir, max_length=20, activation_fn=torch.nn.Identity())
    ref.save(str(tmp_path / "ref"))
    assert (tmp_path / "ref" / "modules.json").is_file()
    ours = CrossEncoder(tmp_path / "ref", device="cpu")
    assert ours.has_trained_head
    assert (ours.max_length, ours.activation) == (20, "identity")
    np.testing.assert_allclose(ours.predict(LONG_PAIRS), ref.predict(LONG_PAIRS), atol=1e-5)


def test_legacy_layout_activation_in_config_json_is_honoured(classifier_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "legacy"
    shutil.copytree(classifier_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity", "version": "4.1.0"}
    (folder / "config.json").write_text(json.dumps(config))
    ours = CrossEncoder(folder, device="cpu")
    assert ours.activation == "identity"
    np.testing.assert_allclose(ours.predict(PAIRS), reference(folder).predict(PAIRS), atol=1e-5)


def test_unknown_saved_activation_warns_and_falls_back(
    classifier_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "custom"
    shutil.copytree(classifier_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "my_package.Scaled"}
    (folder / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="sbert_plugins.cross_encoder"):
        ours = CrossEncoder(folder, device="cpu")
    assert ours.activation == "sigmoid"
    assert any("my_package.Scaled" in r.getMessage() for r in caplog.records)


def test_encoder_checkpoint_gets_a_fresh_reproducible_head(tiny_model_dir: Path) -> None:
    torch.manual_seed(7)
    first = CrossEncoder(tiny_model_dir, device="cpu")
    torch.manual_seed(7)
    second = CrossEncoder(tiny_model_dir, device="cpu")
    assert not first.has_trained_head
    assert (first.num_labels, first.activation) == (1, "sigmoid")
    np.testing.assert_array_equal(first.predict(PAIRS), second.predict(PAIRS))
    # The transformer weights are the encoder's own; only the head is new.
    encoder = SentenceEncoder(tiny_model_dir, device="cpu")
    ours = first.model.bert.embeddings.word_embeddings.weight
    assert torch.equal(ours, encoder.transformer.auto_model.embeddings.word_embeddings.weight)
    assert first.max_length == encoder.max_seq_length

    three = CrossEncoder(tiny_model_dir, device="cpu", num_labels=3)
    assert three.num_labels == 3 and three.activation == "identity"
    assert three.predict(PAIRS).shape == (len(PAIRS), 3)


def test_plain_encoder_folder_without_modules_json_gets_a_head(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    encoder = SentenceEncoder(tiny_model_dir, device="cpu")
    encoder.transformer.auto_model.save_pretrained(str(folder))
    encoder.tokenizer.save_pretrained(str(folder))
    model = CrossEncoder(folder, device="cpu", num_labels=2)
    assert not model.has_trained_head and model.num_labels == 2


def test_num_labels_must_match_a_trained_head(classifier_dir: Path) -> None:
    with pytest.raises(ConfigError, match="trained head with 1 labels, but num_labels=2"):
        CrossEncoder(classifier_dir, device="cpu", num_labels=2)
    assert CrossEncoder(classifier_dir, device="cpu", num_labels=1).num_labels == 1


def test_pickled_weights_are_refused_unless_allowed(classifier_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(classifier_dir, folder)
    weights = load_file(str(folder / "model.safetensors"))
    torch.save(weights, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UnsafeModelError, match="allow_pickle=True"):
        CrossEncoder(folder, device="cpu")
    allowed = CrossEncoder(folder, device="cpu", allow_pickle=True)
    expected = CrossEncoder(classifier_dir, device="cpu").predict(PAIRS)
    np.testing.assert_allclose(allowed.predict(PAIRS), expected, atol=1e-6)


def test_unsupported_sentence_transformers_cross_encoder_is_a_config_error(
    classifier_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "with-dense"
    CrossEncoder(classifier_dir, device="cpu").save(folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 1, "name": "1", "path": "1_Dense", "type": "sentence_transformers.base.modules.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="2 modules"):
        CrossEncoder(folder, device="cpu")


@pytest.mark.slow
def test_minilm_with_a_fresh_head_matches_the_reference_after_saving(
    minilm_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    with (data_dir / "stsb" / "stsb-en-dev.csv").open(newline="", encoding="utf-8") as handle:
        pairs = [(row[0], row[1]) for row, _ in zip(csv.reader(handle), range(300), strict=False)]
    torch.manual_seed(0)
    ours = CrossEncoder(minilm_dir, device="cpu")
    assert ours.max_length == 256
    ours.save(tmp_path / "minilm-ce")
    ref = reference(tmp_path / "minilm-ce")
    np.testing.assert_allclose(ours.predict(pairs, batch_size=16), ref.predict(pairs, batch_size=16), atol=1e-5)
