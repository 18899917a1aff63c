"""Fixtures for the sparse loss tests: tiny SPLADE, inference-free SPLADE and CSR folders (built once per session),
each loaded by us and by the reference, in eval mode (no dropout), and a parity helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import SparseEncoder as ReferenceSparseEncoder
from sentence_transformers.sentence_transformer.modules import Pooling as ReferencePooling
from sentence_transformers.sentence_transformer.modules import Transformer as ReferenceTransformer
from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder as ReferenceSparseAutoEncoder
from sentence_transformers.sparse_encoder.modules import SpladePooling as ReferenceSpladePooling
from torch import Tensor, nn
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertTokenizerFast

from sbert_plugins import SparseEncoder
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
    from sbert_plugins import SentenceEncoder

    SentenceEncoder(modules=build_tiny_modules(root / "build"), device="cpu").save(dense_root)
    torch.manual_seed(5)
    modules = [
        ReferenceTransformer(str(dense_root)),
        ReferencePooling(32, "mean"),
        ReferenceSparseAutoEncoder(input_dim=32, hidden_dim=64, k=4, k_aux=8),
    ]
    ReferenceSparseEncoder(modules=modules, device="cpu").save(str(root / "model"))
    return root / "model"


def _pair(folder: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    reference = ReferenceSparseEncoder(str(folder), device="cpu").eval()
    for module in reference.modules():
        # In eval mode the reference's SpladePooling applies log1p in place, which breaks its backward; in
        # train mode it computes the same values out of place (it has no dropout).
        if isinstance(module, ReferenceSpladePooling):
            module.train()
    return SparseEncoder(folder, device="cpu").eval(), reference


@pytest.fixture(scope="session")
def splade_pair(splade_dir: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    """The tiny SPLADE model loaded by us and by the reference (the tests only leave gradients, reset each time)."""
    return _pair(splade_dir)


@pytest.fixture(scope="session")
def inference_free_pair(inference_free_dir: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    return _pair(inference_free_dir)


@pytest.fixture(scope="session")
def csr_pair(csr_dir: Path) -> tuple[SparseEncoder, ReferenceSparseEncoder]:
    return _pair(csr_dir)


@pytest.fixture(autouse=True)
def dot_similarity(splade_pair: tuple[SparseEncoder, ReferenceSparseEncoder]) -> Iterator[None]:
    """The cosine losses switch the model to cosine (on both sides, as the reference does): switch it back."""
    yield
    for model in splade_pair:
        model.similarity_fn_name = "dot"


def our_features(model: SparseEncoder, columns: list[list[str]], tasks: list[str | None]) -> list[dict[str, Any]]:
    """One ``model.tokenize`` dict per column, routed by ``tasks`` (None: the default route)."""
    return [model.tokenize(list(texts), task=task) for texts, task in zip(columns, tasks, strict=True)]


def reference_features(
    model: ReferenceSparseEncoder, columns: list[list[str]], tasks: list[str | None]
) -> list[dict[str, Any]]:
    return [
        model.preprocess(list(texts)) if task is None else model.preprocess(list(texts), task=task)
        for texts, task in zip(columns, tasks, strict=True)
    ]


def reference_total(value: Tensor | dict[str, Tensor]) -> Tensor:
    """The reference's loss as the trainer sums it (its sparse losses return a dict of terms)."""
    if isinstance(value, dict):
        total, *others = value.values()
        for term in others:
            total = total + term
        return total
    return value


def assert_sparse_parity(
    ours: nn.Module,
    reference: nn.Module,
    pair: tuple[SparseEncoder, ReferenceSparseEncoder],
    columns: list[list[str]],
    labels: Tensor | None,
    *,
    tasks: list[str | None] | None = None,
    reference_labels: Any = None,
    atol: float = 1e-5,
    check_gradients: bool = False,
) -> float:
    """Both losses on the same batch agree within ``atol`` (relative beyond 1); returns ours.

    ``reference_labels`` replaces ``labels`` on the reference's side where it must be given them otherwise.

    With ``check_gradients`` every parameter's gradient agrees within ``10 * atol`` of its largest entry.
    """
    model, reference_model = pair
    tasks = tasks if tasks is not None else [None] * len(columns)
    model.zero_grad(set_to_none=True)
    reference_model.zero_grad(set_to_none=True)
    ours_value = ours(our_features(model, columns, tasks), None if labels is None else labels.clone())
    if reference_labels is None:
        reference_labels = None if labels is None else labels.clone()
    reference_value = reference_total(reference(reference_features(reference_model, columns, tasks), reference_labels))
    assert ours_value.dim() == 0
    tolerance = atol * max(1.0, abs(reference_value.item()))
    assert abs(ours_value.item() - reference_value.item()) < tolerance, (ours_value.item(), reference_value.item())
    if check_gradients:
        ours_value.backward()
        reference_value.backward()
        assert_same_gradients(model, reference_model, atol=10 * atol)
    return float(ours_value.item())


def assert_same_gradients(model: nn.Module, reference_model: nn.Module, *, atol: float) -> None:
    """Every parameter's gradient agrees (names mapped: our ``auto_model`` is the reference's ``model``)."""
    reference_grads = {name: p.grad for name, p in reference_model.named_parameters()}
    compared = 0
    for name, parameter in model.named_parameters():
        theirs = reference_grads[name.replace(".auto_model.", ".model.")]
        ours_grad = parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
        theirs = theirs if theirs is not None else torch.zeros_like(parameter)
        scale = max(1.0, float(theirs.abs().max()))
        torch.testing.assert_close(ours_grad, theirs, rtol=0, atol=atol * scale, msg=name)
        compared += int(ours_grad.abs().sum() > 0)
    assert compared, "no parameter received a gradient"
