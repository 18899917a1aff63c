"""Legacy modules (LayerNorm, Dropout, WeightedLayerPooling, WordEmbeddings, WordWeights, CNN, LSTM, BoW):
folders saved by the reference load here, and ours load there, with the same embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Transformer as ReferenceTransformer
from sentence_transformers.sentence_transformer import modules as ref

from sbert_plugins.errors import ConfigError
from sbert_plugins.modules import (
    CNN,
    LSTM,
    BoW,
    Dropout,
    LayerNorm,
    WeightedLayerPooling,
    WordEmbeddings,
    WordWeights,
)
from tests.sbert_plugins.modules.parity import assert_same_both_ways

VOCAB = ["PADDING_TOKEN", "man", "plays", "guitar", "cat", "sits", "chair", "park", "hello", "world", "women", "music"]
WEIGHTS = {"man": 2.0, "guitar": 3.5, "cat": 0.5, "hello": 1.5}


def _randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return module


def _word_embeddings(dim: int = 8) -> ref.WordEmbeddings:
    tokenizer = ref.tokenizer.WhitespaceTokenizer(VOCAB, stop_words=["the", "a"], do_lower_case=True)
    weights = torch.randn(len(VOCAB), dim, generator=torch.Generator().manual_seed(1))
    return ref.WordEmbeddings(tokenizer, weights, max_seq_length=6)


def test_weighted_layer_pooling_layer_norm_and_dropout(tiny_model_dir: Path, tmp_path: Path) -> None:
    transformer = ReferenceTransformer(str(tiny_model_dir), config_kwargs={"output_hidden_states": True})
    layers = _randomize(ref.WeightedLayerPooling(32, num_hidden_layers=2, layer_start=1))
    modules = [transformer, layers, ref.Pooling(32), _randomize(ref.LayerNorm(32)), ref.Dropout(0.3)]
    ours = assert_same_both_ways(SentenceTransformer(modules=modules, device="cpu"), tmp_path)
    assert [type(m) for m in ours][1:] == [WeightedLayerPooling, type(ours[2]), LayerNorm, Dropout]
    assert torch.equal(ours[1].layer_weights.detach(), layers.layer_weights.detach())


def test_word_embeddings_word_weights_and_cnn(tmp_path: Path) -> None:
    word_weights = ref.WordWeights(VOCAB, WEIGHTS, unknown_word_weight=0.25)
    cnn = ref.CNN(8, out_channels=4, kernel_sizes=[1, 3])
    modules = [_word_embeddings(), word_weights, cnn, ref.Pooling(8, pooling_mode="mean")]
    ours = assert_same_both_ways(SentenceTransformer(modules=modules, device="cpu"), tmp_path)
    assert [type(m) for m in ours][:3] == [WordEmbeddings, WordWeights, CNN]
    assert ours.embedding_dim == 8


@pytest.mark.parametrize("bidirectional", [True, False])
def test_word_embeddings_and_lstm(tmp_path: Path, bidirectional: bool) -> None:
    lstm = ref.LSTM(8, hidden_dim=5, bidirectional=bidirectional)
    pooling = ref.Pooling(lstm.get_embedding_dimension(), pooling_mode="max")
    modules = [_word_embeddings(), lstm, pooling]
    ours = assert_same_both_ways(SentenceTransformer(modules=modules, device="cpu"), tmp_path)
    assert isinstance(ours[1], LSTM)


@pytest.mark.parametrize("cumulative", [True, False])
def test_bag_of_words(tmp_path: Path, cumulative: bool) -> None:
    bow = ref.BoW(VOCAB, WEIGHTS, unknown_word_weight=0.5, cumulative_term_frequency=cumulative)
    ours = assert_same_both_ways(SentenceTransformer(modules=[bow], device="cpu"), tmp_path)
    assert isinstance(ours[0], BoW)
    repeated = ours.encode("man man guitar")
    assert repeated[VOCAB.index("man")] == (4.0 if cumulative else 2.0)
    assert json.loads((tmp_path / "ours" / "modules.json").read_text())[0]["path"] == "0_BoW"


def test_only_the_whitespace_tokenizer_loads(tmp_path: Path) -> None:
    SentenceTransformer(modules=[_word_embeddings(), ref.Pooling(8)], device="cpu").save(str(tmp_path / "m"))
    config_path = tmp_path / "m" / "wordembedding_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "sentence_transformers.sentence_transformer.modules.tokenizer.phrase.PhraseTokenizer"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="PhraseTokenizer'? is not supported"):
        WordEmbeddings.load(tmp_path / "m")
