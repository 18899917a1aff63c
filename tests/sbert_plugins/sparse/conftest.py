"""Tiny sparse models for the tests: a masked-LM BERT folder, and SPLADE, inference-free SPLADE and CSR folders
saved by the reference's ``SparseEncoder`` (built offline from configs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers
from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizerFast

from tests.conftest import _vocab

TEXTS = [
    "a man plays the guitar in the park",
    "hello world",
    "the dog runs",
    "what is a sentence embedding vector",
    "",
]


def _tokenizer(folder: Path) -> BertTokenizerFast:
    # One id per token and no gaps, so the MLM's vocabulary size equals the tokenizer's.
    vocab = list(dict.fromkeys(_vocab()))
    if int(transformers.__version__.split(".")[0]) < 5:  # 4.x reads a vocab file
        vocab_file = folder / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        return BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    return BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)


def _config(vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )


def build_hf_folder(folder: Path, *, mlm_head: bool, seed: int = 0) -> Path:
    """A tiny BERT checkpoint (with or without its masked-LM head) and tokenizer in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(folder)
    torch.manual_seed(seed)
    model = (BertForMaskedLM if mlm_head else BertModel)(_config(len(tokenizer.get_vocab())))
    with torch.no_grad():  # a random head gives near-uniform logits; widen them so SPLADE vectors are sparse
        for parameter in model.parameters():
            parameter.mul_(4.0)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BertForMaskedLM folder (a Hugging Face fill-mask checkpoint)."""
    return build_hf_folder(tmp_path_factory.mktemp("mlm"), mlm_head=True)


@pytest.fixture(scope="session")
def headless_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BertModel folder: no masked-LM head."""
    return build_hf_folder(tmp_path_factory.mktemp("headless"), mlm_head=False, seed=1)


@pytest.fixture(scope="session")
def reference_folders(mlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SPLADE, inference-free SPLADE and CSR folders saved by sentence-transformers' SparseEncoder."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder.modules import (
        Router,
        SparseAutoEncoder,
        SparseStaticEmbedding,
        SpladePooling,
        Transformer,
    )

    root = tmp_path_factory.mktemp("reference")
    torch.manual_seed(0)
    splade = SparseEncoder(
        modules=[Transformer(str(mlm_dir), transformer_task="fill-mask"), SpladePooling("max")], device="cpu"
    )
    splade.save(str(root / "splade"))

    document = [Transformer(str(mlm_dir), transformer_task="fill-mask"), SpladePooling("sum", "log1p_relu")]
    tokenizer = document[0].tokenizer
    query = SparseStaticEmbedding(tokenizer, weight=torch.rand(len(tokenizer.get_vocab())) + 0.5)
    inference_free = SparseEncoder(modules=[Router.for_query_document([query], document)], device="cpu")
    inference_free.save(str(root / "inference_free"))

    backbone = Transformer(str(mlm_dir))
    autoencoder = SparseAutoEncoder(32, hidden_dim=128, k=4, k_aux=32, dead_threshold=2)
    with torch.no_grad():
        autoencoder.latent_bias.normal_()
        autoencoder.pre_bias.normal_()
    csr = SparseEncoder(modules=[backbone, Pooling(32, pooling_mode="mean"), autoencoder], device="cpu")
    csr.save(str(root / "csr"))
    return {"splade": root / "splade", "inference_free": root / "inference_free", "csr": root / "csr"}
