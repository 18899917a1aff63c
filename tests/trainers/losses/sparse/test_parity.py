"""Every sparse loss equals the reference's (sentence-transformers' sparse_encoder.losses) on the same tiny model
weights and the same batch, within 1e-5; gradients too for several."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric
from sentence_transformers.sparse_encoder import losses as reference_losses
from torch import Tensor

from sbert_plugins import SparseEncoder
from tests.trainers.losses.cases import ANCHORS, NEGATIVES, POSITIVES, ROWS, SCORES, SECOND_NEGATIVES, TEACHER_SCORES
from tests.trainers.losses.conftest import assert_same_gradients, features, reference_features
from trainers import losses

from .conftest import assert_received_gradient, assert_sparse_parity

Pair = tuple[SparseEncoder, Any]
TEACHER_VECTORS = torch.rand(ROWS, 203, generator=torch.Generator().manual_seed(1))


@dataclass(frozen=True)
class InnerCase:
    ours: Callable[[Any], Any]
    reference: Callable[[Any], Any]
    columns: list[list[str]]
    labels: Tensor | None
    documents_only: bool = False
    reference_labels: Any = None  # what the reference must be given to mean ``labels``, when that differs


INNER = {
    "SparseMultipleNegativesRankingLoss": InnerCase(
        losses.SparseMultipleNegativesRankingLoss,
        reference_losses.SparseMultipleNegativesRankingLoss,
        [ANCHORS, POSITIVES, NEGATIVES],
        None,
    ),
    "SparseMultipleNegativesRankingLoss-symmetric": InnerCase(
        lambda m: losses.SparseMultipleNegativesRankingLoss(
            m, scale=0.5, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
        ),
        lambda m: reference_losses.SparseMultipleNegativesRankingLoss(
            m, scale=0.5, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
        ),
        [ANCHORS, POSITIVES],
        None,
    ),
    "SparseMarginMSELoss": InnerCase(
        losses.SparseMarginMSELoss,
        reference_losses.SparseMarginMSELoss,
        [ANCHORS, POSITIVES, NEGATIVES],
        TEACHER_SCORES[:, 0] - TEACHER_SCORES[:, 1],
    ),
    "SparseDistillKLDivLoss": InnerCase(
        losses.SparseDistillKLDivLoss,
        reference_losses.SparseDistillKLDivLoss,
        [ANCHORS, POSITIVES, NEGATIVES, SECOND_NEGATIVES],
        TEACHER_SCORES,
    ),
    "SparseCosineSimilarityLoss": InnerCase(
        losses.SparseCosineSimilarityLoss,
        reference_losses.SparseCosineSimilarityLoss,
        [ANCHORS, POSITIVES],
        SCORES,
        documents_only=True,
    ),
    "SparseCoSENTLoss": InnerCase(
        losses.SparseCoSENTLoss, reference_losses.SparseCoSENTLoss, [ANCHORS, POSITIVES], SCORES, documents_only=True
    ),
    "SparseAnglELoss": InnerCase(
        losses.SparseAnglELoss, reference_losses.SparseAnglELoss, [ANCHORS, POSITIVES], SCORES, documents_only=True
    ),
    "SparseTripletLoss": InnerCase(
        lambda m: losses.SparseTripletLoss(m, distance="manhattan", margin=3.0),
        lambda m: reference_losses.SparseTripletLoss(
            m, distance_metric=TripletDistanceMetric.MANHATTAN, triplet_margin=3.0
        ),
        [ANCHORS, POSITIVES, NEGATIVES],
        None,
    ),
    "SparseMSELoss": InnerCase(
        losses.SparseMSELoss,
        reference_losses.SparseMSELoss,
        [ANCHORS, POSITIVES],
        TEACHER_VECTORS,
        # The reference's MSELoss.compute_loss_from_embeddings zips the columns with its labels, so inside its
        # SpladeLoss a (batch, dim) tensor would pair column i with row i; one teacher tensor per column is meant.
        reference_labels=[TEACHER_VECTORS, TEACHER_VECTORS],
    ),
}
WITH_GRADIENTS = {"SparseMultipleNegativesRankingLoss", "SparseMarginMSELoss", "SparseCoSENTLoss"}


def _splade(ours_or_reference: Any, model: Any, inner: Any, case: InnerCase) -> Any:
    weights: dict[str, Any] = {"document_regularizer_weight": 3e-3}
    if case.documents_only:
        weights["use_document_regularizer_only"] = True
    else:
        weights["query_regularizer_weight"] = 5e-3
    return ours_or_reference(model, inner, **weights)


@pytest.mark.parametrize("name", INNER)
def test_splade_loss_around_each_task_loss_matches_the_reference(name: str, splade_pair: Pair) -> None:
    case = INNER[name]
    model, reference_model = splade_pair
    ours = _splade(losses.SpladeLoss, model, case.ours(model), case)
    reference = _splade(reference_losses.SpladeLoss, reference_model, case.reference(reference_model), case)
    value = assert_sparse_parity(
        ours,
        reference,
        splade_pair,
        case.columns,
        case.labels,
        reference_labels=case.reference_labels,
        check_gradients=name in WITH_GRADIENTS,
    )
    assert value > 0


def _around_mnrl(pair: Pair, cached: bool = False, **settings: Any) -> tuple[Any, Any]:
    """Our and the reference's SpladeLoss (CachedSpladeLoss when ``cached``) around SparseMNRL, same settings."""
    model, reference_model = pair
    settings = {"document_regularizer_weight": 3e-3, "query_regularizer_weight": 5e-3, **settings}
    ours = losses.CachedSpladeLoss if cached else losses.SpladeLoss
    theirs = reference_losses.CachedSpladeLoss if cached else reference_losses.SpladeLoss
    return (
        ours(model, losses.SparseMultipleNegativesRankingLoss(model), **settings),
        theirs(reference_model, reference_losses.SparseMultipleNegativesRankingLoss(reference_model), **settings),
    )


def test_the_three_terms_match_the_reference_one_by_one(splade_pair: Pair) -> None:
    model, reference_model = splade_pair
    columns = [ANCHORS, POSITIVES, NEGATIVES]
    ours, reference = _around_mnrl(splade_pair)
    with torch.no_grad():
        embeddings = [model(f)["sentence_embedding"] for f in features(model, columns)]
        ours_terms = ours.compute_loss_components(embeddings, None)
        reference_terms = reference(reference_features(reference_model, columns), None)
    assert list(ours_terms) == list(reference_terms)
    for key, value in reference_terms.items():
        assert ours_terms[key].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("threshold", [None, 150])
def test_flops_loss_matches_the_reference(threshold: int | None, splade_pair: Pair) -> None:
    model, reference_model = splade_pair
    embeddings = torch.relu(torch.randn(6, 203, generator=torch.Generator().manual_seed(2)))
    embeddings[:3, :120] = 0  # three rows with 83 active dimensions, under the threshold
    ours = losses.FlopsLoss(model, threshold=threshold).compute_loss_from_embeddings(embeddings)
    theirs = reference_losses.FlopsLoss(reference_model, threshold=threshold).compute_loss_from_embeddings(embeddings)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


def test_splade_loss_with_thresholds_matches_the_reference(splade_pair: Pair) -> None:
    ours, reference = _around_mnrl(splade_pair, document_regularizer_threshold=195, query_regularizer_threshold=190)
    assert_sparse_parity(ours, reference, splade_pair, [ANCHORS, POSITIVES], None)


def test_sparse_mse_loss_alone_matches_the_reference(splade_pair: Pair) -> None:
    model, reference_model = splade_pair
    case = INNER["SparseMSELoss"]
    assert_sparse_parity(
        losses.SparseMSELoss(model),
        reference_losses.SparseMSELoss(reference_model),
        splade_pair,
        case.columns,
        case.labels,
        check_gradients=True,
    )


def test_inference_free_model_matches_the_reference(inference_free_pair: Pair) -> None:
    model = inference_free_pair[0]
    ours, reference = _around_mnrl(inference_free_pair, query_regularizer_weight=None)
    assert_sparse_parity(
        ours,
        reference,
        inference_free_pair,
        [ANCHORS, POSITIVES, NEGATIVES],
        None,
        tasks=["query", "document", "document"],
        check_gradients=True,
    )
    assert model[0].sub_modules["query"][0].weight.grad.abs().sum() > 0  # the static query weights learn too


def test_cached_splade_loss_matches_the_reference_in_value_and_gradients(splade_pair: Pair) -> None:
    ours, reference = _around_mnrl(splade_pair, cached=True, mini_batch_size=3)
    assert_sparse_parity(ours, reference, splade_pair, [ANCHORS, POSITIVES, NEGATIVES], None, check_gradients=True)


def test_csr_loss_matches_the_reference_term_by_term(csr_pair: Pair) -> None:
    model, reference_model = csr_pair
    columns = [ANCHORS, POSITIVES, NEGATIVES]
    ours = losses.CSRLoss(model, beta=0.5, gamma=2.0)
    reference = reference_losses.CSRLoss(reference_model, beta=0.5, gamma=2.0)
    model.zero_grad(set_to_none=True)
    reference_model.zero_grad(set_to_none=True)
    outputs = [model(f) for f in features(model, columns)]
    ours_terms = ours.compute_loss_components(outputs, None)
    reference_terms = reference(reference_features(reference_model, columns), None)
    assert list(ours_terms) == list(reference_terms)
    for key, value in reference_terms.items():
        assert ours_terms[key].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-7), key
    sum(ours_terms.values()).backward()  # type: ignore[union-attr]
    sum(reference_terms.values()).backward()  # type: ignore[union-attr]
    assert_same_gradients(model, reference_model, atol=1e-4)
    assert_received_gradient(model)
    assert_sparse_parity(
        losses.CSRLoss(model, losses.SparseCoSENTLoss(model), beta=0.1),
        reference_losses.CSRLoss(reference_model, reference_losses.SparseCoSENTLoss(reference_model), beta=0.1),
        csr_pair,
        [ANCHORS, POSITIVES],
        SCORES,
    )
