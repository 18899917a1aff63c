"""Sparse models load both ways with sentence-transformers' SparseEncoder: the same sparse vectors (values within
1e-5, the same active indices) for queries and documents."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from sbert_plugins import SparseEncoder
from tests.sbert_plugins.sparse.conftest import TEXTS

KINDS = ["splade", "inference_free", "csr"]


def _assert_same_vectors(ours: Tensor, theirs: Tensor) -> None:
    assert ours.is_sparse and ours.is_coalesced() and ours.dtype == torch.float32
    theirs = theirs.coalesce()
    assert ours.shape == theirs.shape
    assert ours._nnz() > 0
    assert torch.equal(ours.indices(), theirs.indices())
    torch.testing.assert_close(ours.values(), theirs.values(), atol=1e-5, rtol=0)


def _compare(ours: SparseEncoder, reference: object) -> None:
    _assert_same_vectors(ours.encode_queries(TEXTS), reference.encode_query(TEXTS))  # type: ignore[attr-defined]
    _assert_same_vectors(ours.encode_documents(TEXTS), reference.encode_document(TEXTS))  # type: ignore[attr-defined]
    _assert_same_vectors(ours.encode(TEXTS), reference.encode(TEXTS))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", KINDS)
def test_reference_folders_load_here_with_the_same_vectors(reference_folders: dict[str, Path], kind: str) -> None:
    from sentence_transformers import SparseEncoder as ReferenceSparseEncoder

    ours = SparseEncoder(reference_folders[kind], device="cpu")
    reference = ReferenceSparseEncoder(str(reference_folders[kind]), device="cpu")
    assert ours.is_inference_free == (kind == "inference_free")
    assert ours.max_active_dims == reference.max_active_dims
    _compare(ours, reference)
    assert ours.embedding_dim == ours.encode("hello").shape[0]  # read from config, not probed


@pytest.mark.parametrize("kind", KINDS)
def test_our_folders_load_there_with_the_same_vectors(
    reference_folders: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    from sentence_transformers import SparseEncoder as ReferenceSparseEncoder

    ours = SparseEncoder(reference_folders[kind], device="cpu")
    ours.save(tmp_path / "ours")
    reference = ReferenceSparseEncoder(str(tmp_path / "ours"), device="cpu")
    assert reference.similarity_fn_name == "dot"
    assert reference.max_active_dims == ours.max_active_dims
    _compare(ours, reference)


def test_from_transformer_loads_there(mlm_dir: Path, tmp_path: Path) -> None:
    from sentence_transformers import SparseEncoder as ReferenceSparseEncoder

    ours = SparseEncoder.from_transformer(mlm_dir, inference_free=True, device="cpu")
    ours.save(tmp_path / "ours")
    reference = ReferenceSparseEncoder(str(tmp_path / "ours"), device="cpu")
    _compare(ours, reference)


def test_csr_training_outputs_match_the_reference(reference_folders: dict[str, Path]) -> None:
    """The features the CSR losses read, and the dead-latent statistics, over two training steps' forwards."""
    from sentence_transformers import SparseEncoder as ReferenceSparseEncoder

    ours = SparseEncoder(reference_folders["csr"], device="cpu")
    reference = ReferenceSparseEncoder(str(reference_folders["csr"]), device="cpu")
    ours.train()
    reference.train()
    for module in (*ours.modules(), *reference.modules()):  # no dropout: both sides see the same function
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    keys = [
        "sentence_embedding",
        "sentence_embedding_backbone",
        "sentence_embedding_encoded",
        "sentence_embedding_encoded_4k",
        "auxiliary_embedding",
        "decoded_embedding_k",
        "decoded_embedding_4k",
        "decoded_embedding_aux",
        "decoded_embedding_k_pre_bias",
    ]
    for _ in range(2):
        mine = ours(ours.tokenize(TEXTS[:4]))
        theirs = reference(reference.preprocess(TEXTS[:4]))
        for key in keys:
            torch.testing.assert_close(mine[key], theirs[key], atol=1e-5, rtol=0, msg=key)
    assert mine["auxiliary_embedding"].count_nonzero() > 0  # latents went dead (dead_threshold=2): aux path ran
    assert torch.equal(ours[2].stats_last_nonzero, reference[2].stats_last_nonzero)
