"""StaticEmbedding: the reference's layout both ways, model2vec's layout, speed-relevant padding, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import StaticEmbedding as ReferenceStatic
from transformers import PreTrainedTokenizerFast

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules import StaticEmbedding
from tests.sbert_plugins.modules.parity import TEXTS, assert_same_both_ways


@pytest.fixture()
def tokenizer(tiny_model_dir: Path) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast.from_pretrained(str(tiny_model_dir))


def test_reference_static_model_loads_here_and_back(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = SentenceTransformer(modules=[ReferenceStatic(tokenizer, embedding_dim=24)], device="cpu")
    ours = assert_same_both_ways(reference, tmp_path)
    assert isinstance(ours[0], StaticEmbedding)
    assert ours.max_seq_length is None
    assert np.all(ours.encode([""]) == 0)  # an empty text has no tokens: the reference's zeros too


def test_model2vec_layout_loads_with_mapping_and_weights(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    vocab = tokenizer.backend_tokenizer.get_vocab_size()
    generator = torch.Generator().manual_seed(1)
    tensors = {
        "embeddings": torch.randn(10, 8, generator=generator),
        "mapping": torch.randint(0, 10, (vocab,), generator=generator),
        "weights": torch.rand(vocab, generator=generator),
    }
    save_file(tensors, str(tmp_path / "model.safetensors"))
    tokenizer.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    ours = SentenceEncoder(modules=[StaticEmbedding.load(tmp_path)], device="cpu")
    reference = SentenceTransformer(modules=[ReferenceStatic.load(str(tmp_path))], device="cpu")
    np.testing.assert_allclose(ours.encode(TEXTS), reference.encode(TEXTS), atol=1e-6)


def test_missing_files_and_bad_weights_are_named(tokenizer: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs tokenizer.json"):
        StaticEmbedding.load(tmp_path)
    tokenizer.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    save_file({"other": torch.zeros(3, 2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ConfigError, match=r"'embedding.weight'.*found \['other'\]"):
        StaticEmbedding.load(tmp_path)
    with pytest.raises(ConfigError, match="embedding_weights or embedding_dim"):
        StaticEmbedding(tokenizer.backend_tokenizer)
    with pytest.raises(ConfigError, match="backend_tokenizer"):
        StaticEmbedding(tokenizer, embedding_dim=4)  # type: ignore[arg-type]


def test_max_seq_length_cannot_be_set(tokenizer: PreTrainedTokenizerFast) -> None:
    model = SentenceEncoder(modules=[StaticEmbedding(tokenizer.backend_tokenizer, embedding_dim=4)], device="cpu")
    with pytest.raises(ConfigError, match="reads whole texts"):
        model.max_seq_length = 16


def test_gradients_reach_only_the_tokens_of_the_batch(tokenizer: PreTrainedTokenizerFast) -> None:
    model = SentenceEncoder(modules=[StaticEmbedding(tokenizer.backend_tokenizer, embedding_dim=4)], device="cpu")
    features = model.tokenize(["a dog", "the cat"])
    model(features)["sentence_embedding"].sum().backward()
    grad = model[0].embedding.weight.grad
    touched = set(torch.nonzero(grad.abs().sum(dim=1)).flatten().tolist())
    assert touched == set(features["input_ids"][features["attention_mask"].bool()].tolist())
