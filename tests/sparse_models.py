"""Tiny sparse models for tests (no network): SPLADE, inference-free SPLADE and CSR folders built once per session.

Import the fixtures into the conftest.py of the tests that use them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sentence_transformers import SparseEncoder as ReferenceSparseEncoder
from sentence_transformers.sentence_transformer.modules import Pooling as ReferencePooling
from sentence_transformers.sentence_transformer.modules import Transformer as ReferenceTransformer
from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder as ReferenceSparseAutoEncoder
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertTokenizerFast

from sbert_plugins import SentenceEncoder, SparseEncoder
from tests.conftest import _vocab, build_tiny_modules


def build_tiny_mlm(folder: Path, *, seed: int = 0) -> Path:
    """A Hugging Face folder with a 2-layer, 32-wide BertForMaskedLM over the tiny test vocabulary."""
    folder.mkdir(parents=True, exist_ok=True)
    # The shared tiny vocabulary lists "a" twice; ids must run 0..n-1 so that the MLM head's n outputs and a
    # static query side over the tokenizer's n tokens line up.
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(dict.fromkeys(_vocab()))}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_mlm(tmp_path_factory.mktemp("tiny-mlm") / "hf")


@pytest.fixture(scope="session")
def splade_dir(tiny_mlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SPLADE folder (MLMTransformer + SpladePooling max/relu) saved by us."""
    folder = tmp_path_factory.mktemp("tiny-splade") / "model"
    SparseEncoder.from_transformer(tiny_mlm_dir, device="cpu").save(folder)
    return folder


@pytest.fixture(scope="session")
def inference_free_dir(tiny_mlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An inference-free SPLADE folder (Router: static query side, SPLADE document side), with query weights
    that differ per token."""
    folder = tmp_path_factory.mktemp("tiny-inference-free") / "model"
    tokens = len(AutoTokenizer.from_pretrained(str(tiny_mlm_dir)).get_vocab())
    weights = torch.rand(tokens, generator=torch.Generator().manual_seed(3)) + 0.5
    SparseEncoder.from_transformer(tiny_mlm_dir, inference_free=True, query_weights=weights, device="cpu").save(folder)
    return folder


@pytest.fixture(scope="session")
def csr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSR folder (Transformer + mean Pooling + SparseAutoEncoder, k=4, k_aux=8) saved by the reference."""
    root = tmp_path_factory.mktemp("tiny-csr")
    dense_root = root / "dense"
    SentenceEncoder(modules=build_tiny_modules(root / "build"), device="cpu").save(dense_root)
    torch.manual_seed(5)
    modules = [
        ReferenceTransformer(str(dense_root)),
        ReferencePooling(32, "mean"),
        ReferenceSparseAutoEncoder(input_dim=32, hidden_dim=64, k=4, k_aux=8),
    ]
    ReferenceSparseEncoder(modules=modules, device="cpu").save(str(root / "model"))
    return root / "model"
