"""What every sparse loss keeps: documented, JSON config that rebuilds it, wrapped-only losses refuse to run alone,
and construction errors that name the fix."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from sbert_plugins import ConfigError, DataError, SentenceEncoder, SparseEncoder
from tests.trainers.losses.cases import ANCHORS, NEGATIVES, POSITIVES, SCORES
from tests.trainers.losses.conftest import features
from trainers import losses

Pair = tuple[SparseEncoder, Any]
WRAPPERS = {"SpladeLoss", "CachedSpladeLoss", "CSRLoss"}
REGULARISERS = {"FlopsLoss", "CSRReconstructionLoss"}


def test_every_sparse_loss_is_exported_and_documented() -> None:
    assert set(losses.SPARSE_LOSSES) == WRAPPERS | REGULARISERS | set(losses.SPARSE_TASK_LOSSES)
    assert len(losses.SPARSE_TASK_LOSSES) == 8
    assert not set(losses.SPARSE_LOSSES) & set(losses.EMBEDDING_LOSSES)  # those take a SentenceEncoder
    for name in losses.SPARSE_LOSSES:
        cls = getattr(losses, name)
        assert issubclass(cls, torch.nn.Module)
        for section in ("Args:", "Inputs:", "Reference:", "Relations:", "Example:"):
            assert section in (cls.__doc__ or ""), f"{name} docstring lacks {section}"


@pytest.mark.parametrize("name", [n for n in losses.SPARSE_TASK_LOSSES if n != "SparseMSELoss"])
def test_task_losses_refuse_to_run_without_a_wrapper(name: str, splade_pair: Pair) -> None:
    model = splade_pair[0]
    with pytest.raises(ConfigError, match="SpladeLoss"):
        getattr(losses, name)(model)(features(model, [ANCHORS, POSITIVES]), SCORES)


@pytest.mark.parametrize("name", sorted(REGULARISERS))
def test_regularisers_are_not_losses_of_their_own(name: str, splade_pair: Pair) -> None:
    model = splade_pair[0]
    with pytest.raises(ConfigError, match="SpladeLoss|CSRLoss"):
        getattr(losses, name)(model)(features(model, [ANCHORS]), None)


def _configs(model: SparseEncoder) -> dict[str, torch.nn.Module]:
    return {
        "SpladeLoss": losses.SpladeLoss(
            model,
            "SparseMarginMSELoss",
            loss_kwargs={"similarity": "cosine"},
            document_regularizer_weight=3e-5,
            query_regularizer_weight=5e-5,
            document_regularizer_threshold=128,
        ),
        "CachedSpladeLoss": losses.CachedSpladeLoss(
            model,
            losses.SparseCoSENTLoss(model, scale=10.0),
            document_regularizer_weight=1e-4,
            use_document_regularizer_only=True,
            mini_batch_size=4,
        ),
        "CSRLoss": losses.CSRLoss(model, beta=0.2, gamma=0.5),
        "FlopsLoss": losses.FlopsLoss(model, threshold=10),
        "CSRReconstructionLoss": losses.CSRReconstructionLoss(model, beta=0.3),
        **{name: getattr(losses, name)(model) for name in losses.SPARSE_TASK_LOSSES},
    }


def test_configs_are_json_and_rebuild_the_same_loss(splade_pair: Pair) -> None:
    model = splade_pair[0]
    built = _configs(model)
    assert set(built) == set(losses.SPARSE_LOSSES)
    for name, loss in built.items():
        config = loss.get_config_dict()  # type: ignore[operator]
        restored = json.loads(json.dumps(config))
        assert restored == config, name
        assert getattr(losses, name)(model, **restored).get_config_dict() == config, name
    assert built["SpladeLoss"].get_config_dict()["loss"] == "SparseMarginMSELoss"  # type: ignore[operator]


def test_splade_loss_adds_the_weighted_regularisers_to_the_task_loss(splade_pair: Pair) -> None:
    model = splade_pair[0]
    inner = losses.SparseMultipleNegativesRankingLoss(model)
    loss = losses.SpladeLoss(model, inner, document_regularizer_weight=0.5, query_regularizer_weight=0.25)
    embeddings = [torch.rand(4, 203, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    flops = losses.FlopsLoss(model)
    expected = (
        inner.compute_loss_from_embeddings(embeddings)
        + 0.5 * flops.compute_loss_from_embeddings(torch.cat(embeddings[1:]))
        + 0.25 * flops.compute_loss_from_embeddings(embeddings[0])
    )
    assert loss.compute_loss_from_embeddings(embeddings).item() == pytest.approx(expected.item(), rel=1e-6)
    # Every column is a document when asked: one regulariser over all of them.
    symmetric = losses.SpladeLoss(model, inner, document_regularizer_weight=0.5, use_document_regularizer_only=True)
    terms = symmetric.compute_loss_components(embeddings)
    assert set(terms) == {"base_loss", "document_regularizer_loss"}
    assert terms["document_regularizer_loss"].item() == pytest.approx(
        0.5 * flops.compute_loss_from_embeddings(torch.cat(embeddings)).item(), rel=1e-6
    )


def test_flops_threshold_leaves_out_rows_with_few_active_dimensions(splade_pair: Pair) -> None:
    model = splade_pair[0]
    embeddings = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    # Without threshold: column means (2, 1, 0) -> 4 + 1; with threshold 1 the second row (1 active) is dropped.
    assert losses.FlopsLoss(model).compute_loss_from_embeddings(embeddings).item() == pytest.approx(5.0)
    assert losses.FlopsLoss(model, threshold=1).compute_loss_from_embeddings(embeddings).item() == pytest.approx(
        0.25 + 1.0
    )


def test_cosine_task_losses_make_the_model_score_by_cosine(splade_pair: Pair) -> None:
    model = splade_pair[0]
    assert model.similarity_fn_name == "dot"
    losses.SparseCoSENTLoss(model)
    assert model.similarity_fn_name == "cosine"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"document_regularizer_weight": -1.0}, "document_regularizer_weight"),
        ({"document_regularizer_weight": 1e-4, "query_regularizer_weight": float("nan")}, "query_regularizer_weight"),
        (
            {
                "document_regularizer_weight": 1e-4,
                "query_regularizer_weight": 1e-4,
                "use_document_regularizer_only": True,
            },
            "use_document_regularizer_only",
        ),
        (
            {"document_regularizer_weight": 1e-4, "document_regularizer": torch.nn.Linear(2, 2)},
            "compute_loss_from_embeddings",
        ),
        ({"document_regularizer_weight": 1e-4, "loss_kwargs": {"scale": 2.0}}, "loss_kwargs"),
    ],
)
def test_splade_loss_construction_errors(kwargs: dict[str, Any], message: str, splade_pair: Pair) -> None:
    model = splade_pair[0]
    with pytest.raises(ConfigError, match=message):
        losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), **kwargs)


def test_threshold_with_a_custom_regulariser_is_an_error(splade_pair: Pair) -> None:
    model = splade_pair[0]
    with pytest.raises(ConfigError, match="threshold"):
        losses.SpladeLoss(
            model,
            losses.SparseMultipleNegativesRankingLoss(model),
            document_regularizer_weight=1e-4,
            document_regularizer=losses.FlopsLoss(model),
            document_regularizer_threshold=5,
        )


def test_wrappers_do_not_nest_and_take_the_same_model(splade_pair: Pair, inference_free_pair: Pair) -> None:
    model, other = splade_pair[0], inference_free_pair[0]
    inner = losses.SparseMultipleNegativesRankingLoss(model)
    splade = losses.SpladeLoss(model, inner, document_regularizer_weight=1e-4)
    with pytest.raises(ConfigError, match="SpladeLoss"):
        losses.SpladeLoss(model, splade, document_regularizer_weight=1e-4)
    with pytest.raises(ConfigError, match="same model"):
        losses.SpladeLoss(other, inner, document_regularizer_weight=1e-4)
    with pytest.raises(ConfigError, match="one of"):
        losses.CSRLoss(model, "MultipleNegativesRankingLoss")  # by name: a sparse task loss only
    with pytest.raises(ConfigError, match="SpladeLoss"):
        losses.MatryoshkaLoss(model, splade, matryoshka_dims=[203, 64])


def test_wrappers_train_a_sparse_encoder_only(tiny_encoder: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match="from_transformer"):
        losses.SpladeLoss(
            tiny_encoder, losses.SparseMultipleNegativesRankingLoss(tiny_encoder), document_regularizer_weight=1
        )
    with pytest.raises(ConfigError, match="trains a SparseEncoder"):
        losses.CSRLoss(tiny_encoder)


def test_query_regulariser_warning_only_when_queries_are_encoded(
    splade_pair: Pair, inference_free_pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trainers.losses.sparse.splade"):
        model = inference_free_pair[0]
        losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=1e-4)
        assert not caplog.records
        model = splade_pair[0]
        losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=1e-4)
        assert "query_regularizer_weight is None" in caplog.text


def test_wrong_columns_and_a_model_without_auto_encoder_are_data_errors(splade_pair: Pair) -> None:
    model = splade_pair[0]
    loss = losses.SpladeLoss(model, losses.SparseTripletLoss(model), document_regularizer_weight=1e-4)
    with pytest.raises(DataError, match="text column"):
        loss(features(model, [ANCHORS, POSITIVES]), None)
    with pytest.raises(DataError, match="SparseAutoEncoder"):
        losses.CSRLoss(model)(features(model, [ANCHORS, POSITIVES]), None)


def test_loss_maths_stays_float32_under_bf16_autocast(splade_pair: Pair) -> None:
    model = splade_pair[0]
    loss = losses.SpladeLoss(
        model,
        losses.SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=1e-4,
        query_regularizer_weight=1e-4,
    )
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        value = loss(features(model, [ANCHORS, POSITIVES, NEGATIVES]), None)
    assert value.dtype == torch.float32 and torch.isfinite(value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_cpu_features_reach_a_cuda_model(name: str, splade_dir: Path, csr_dir: Path) -> None:
    model = SparseEncoder(csr_dir if name == "CSRLoss" else splade_dir, device="cuda")
    inner = losses.SparseMultipleNegativesRankingLoss(model)
    loss = (
        losses.CSRLoss(model, inner)
        if name == "CSRLoss"
        else getattr(losses, name)(model, inner, document_regularizer_weight=1e-3, query_regularizer_weight=1e-3)
    )
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        value = loss(features(model, [ANCHORS, POSITIVES, NEGATIVES]), None)
    assert value.device.type == "cuda" and value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
