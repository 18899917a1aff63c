"""Pooling, Dense and Normalize: behaviour, config round trips, and equality with the reference modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sentence_transformers.base.modules import Dense as RefDense
from sentence_transformers.sentence_transformer.modules import Pooling as RefPooling

from sbert_plugins import ConfigError
from sbert_plugins.modules import POOLING_MODES, Dense, Normalize, Pooling


def _features(left_padded: bool = False) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    if left_padded:
        mask = mask.flip(1)
    return {"token_embeddings": torch.randn(3, 5, 8), "attention_mask": mask}


@pytest.mark.parametrize("left_padded", [False, True])
@pytest.mark.parametrize("mode", POOLING_MODES)
def test_each_pooling_mode_equals_the_reference(mode: str, left_padded: bool) -> None:
    ours = Pooling(8, mode)(_features(left_padded))["sentence_embedding"]  # type: ignore[arg-type]
    ref = RefPooling(8, pooling_mode=mode)(_features(left_padded))["sentence_embedding"]
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)


def test_mean_pooling_ignores_padding() -> None:
    features = _features()
    out = Pooling(8, "mean")(features)["sentence_embedding"]
    torch.testing.assert_close(out[0], features["token_embeddings"][0, :3].mean(0))
    torch.testing.assert_close(out[2], features["token_embeddings"][2, 0])


def test_several_modes_are_concatenated_in_order() -> None:
    features = _features()
    both = Pooling(8, ("cls", "mean"))(dict(features))["sentence_embedding"]
    assert both.shape == (3, 16)
    torch.testing.assert_close(both[:, :8], features["token_embeddings"][:, 0])
    assert Pooling(8, ("cls", "mean")).output_dim == 16


def test_include_prompt_false_leaves_prompt_tokens_out() -> None:
    features = _features()
    features["prompt_length"] = torch.tensor(1)
    out = Pooling(8, "mean", include_prompt=False)(features)["sentence_embedding"]
    torch.testing.assert_close(out[0], features["token_embeddings"][0, 1:3].mean(0))


@pytest.mark.parametrize("modes", [("mean",), ("cls", "max"), ("weightedmean",), ("lasttoken",)])
def test_pooling_config_round_trip_and_reference_reads_it(tmp_path: Path, modes: tuple[str, ...]) -> None:
    Pooling(8, modes, include_prompt=False).save(tmp_path)  # type: ignore[arg-type]
    loaded = Pooling.load(tmp_path)
    assert loaded.modes == modes and loaded.embedding_dim == 8 and loaded.include_prompt is False
    ref = RefPooling.load(str(tmp_path))
    assert tuple([ref.pooling_mode] if isinstance(ref.pooling_mode, str) else ref.pooling_mode) == modes


def test_pooling_reads_the_newer_config_format(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"embedding_dimension": 8, "pooling_mode": ["cls", "mean"]}))
    assert Pooling.load(tmp_path).modes == ("cls", "mean")


def test_pooling_config_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"word_embedding_dimension": 8}))
    with pytest.raises(ConfigError, match=r"config\.json: no pooling mode"):
        Pooling.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"config\.json: line 1: invalid JSON"):
        Pooling.load(tmp_path)
    with pytest.raises(ConfigError, match="unknown pooling mode"):
        Pooling(8, "median")  # type: ignore[arg-type]


def test_dense_round_trip_equals_reference(tmp_path: Path) -> None:
    torch.manual_seed(0)
    dense = Dense(8, 4, activation=torch.nn.ReLU())
    dense.save(tmp_path)
    x = torch.randn(3, 8)
    loaded = Dense.load(tmp_path)
    ref = RefDense.load(str(tmp_path))
    ours_out = loaded({"sentence_embedding": x.clone()})["sentence_embedding"]
    torch.testing.assert_close(ours_out, dense({"sentence_embedding": x.clone()})["sentence_embedding"])
    torch.testing.assert_close(ours_out, ref({"sentence_embedding": x.clone()})["sentence_embedding"])


def test_dense_refuses_unknown_activation(tmp_path: Path) -> None:
    Dense(8, 4).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["activation_function"] = "os.system"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="'os.system' is not supported"):
        Dense.load(tmp_path)


def test_normalize_gives_unit_vectors() -> None:
    out = Normalize()({"sentence_embedding": torch.tensor([[3.0, 4.0], [0.0, 2.0]])})["sentence_embedding"]
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
