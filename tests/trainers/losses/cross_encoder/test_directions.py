"""The maths of the cross-encoder losses on hand-made logits: better scores give lower losses, the known
values come out, and the gradients push scores the right way."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from tests.trainers.losses.cross_encoder.conftest import NEGATIVES, POSITIVES, QUERIES
from trainers.losses import cross_encoder as losses

LISTWISE = ["ListNetLoss", "ListMLELoss", "PListMLELoss", "LambdaLoss", "RankNetLoss"]
LABELS = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
MASK = torch.ones(1, 4, dtype=torch.bool)


def test_binary_cross_entropy_value_and_direction(model: CrossEncoder) -> None:
    loss = losses.BinaryCrossEntropyLoss(model)
    labels = torch.tensor([1.0, 0.0])
    assert float(loss.compute_loss_from_logits(torch.zeros(2, 1), labels)) == pytest.approx(math.log(2))
    right = loss.compute_loss_from_logits(torch.tensor([[4.0], [-4.0]]), labels)
    wrong = loss.compute_loss_from_logits(torch.tensor([[-4.0], [4.0]]), labels)
    assert right < 0.05 < wrong
    weighted = losses.BinaryCrossEntropyLoss(model, pos_weight=3.0)
    only_positive_wrong = torch.tensor([[-4.0], [-4.0]])
    assert weighted.compute_loss_from_logits(only_positive_wrong, labels) > loss.compute_loss_from_logits(
        only_positive_wrong, labels
    )


def test_cross_entropy_prefers_the_labelled_class(model3: CrossEncoder) -> None:
    loss = losses.CrossEntropyLoss(model3)
    labels = torch.tensor([2, 0])
    right = loss.compute_loss_from_logits(torch.tensor([[0.0, 0.0, 5.0], [5.0, 0.0, 0.0]]), labels)
    wrong = loss.compute_loss_from_logits(torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 5.0]]), labels)
    assert right < 0.02 and wrong > 4


def test_mse_and_margin_mse_are_zero_on_their_targets(model: CrossEncoder) -> None:
    assert (
        float(losses.MSELoss(model).compute_loss_from_logits(torch.tensor([[1.5], [-2.0]]), torch.tensor([1.5, -2.0])))
        == 0
    )
    margin = losses.MarginMSELoss(model)
    logits = torch.tensor([[5.0, 1.0, 3.0]])
    assert float(margin.compute_loss_from_logits(logits, torch.tensor([[4.0, 2.0]]))) == 0
    assert float(margin.compute_loss_from_logits(logits + 10, torch.tensor([[9.0, 7.0, 3.0]]))) == pytest.approx(
        ((4 - 2) ** 2 + (2 - 6) ** 2) / 2  # student margins (4, 2), teacher margins (2, 6)
    )


def test_a_first_stage_that_favours_the_positive_lowers_the_multiple_negatives_ranking_loss(
    model: CrossEncoder,
) -> None:
    loss = losses.MultipleNegativesRankingLoss(model, activation="identity", scale=1.0, first_stage_scale=2.0)
    logits = torch.zeros(1, 3)
    assert float(loss.compute_loss_from_logits(logits, torch.tensor([[0.5, 0.0, 0.0]]))) == pytest.approx(
        -math.log(math.e / (math.e + 2))  # the positive's score rises by 2 * 0.5
    )
    assert loss.compute_loss_from_logits(logits, torch.tensor([[0.0, 0.5, 0.0]])) > math.log(3)


def test_multiple_negatives_ranking_with_a_first_stage_adds_its_scaled_cosines(
    model: CrossEncoder, tiny_encoder: SentenceEncoder
) -> None:
    loss = losses.MultipleNegativesRankingLoss(
        model, num_negatives=None, first_stage=tiny_encoder, first_stage_scale=5.0
    )
    value = loss([QUERIES, POSITIVES, NEGATIVES])
    candidates = [POSITIVES, *loss.in_batch_negatives([POSITIVES, NEGATIVES]), NEGATIVES]  # all others: no sampling
    logits = torch.stack(
        [
            torch.from_numpy(model.predict(list(zip(QUERIES, column, strict=True)), activation="identity"))
            for column in candidates
        ],
        dim=1,
    )
    queries = tiny_encoder.encode(QUERIES, normalize=True, convert_to="torch")
    cosines = torch.stack(
        [(queries * tiny_encoder.encode(column, normalize=True, convert_to="torch")).sum(-1) for column in candidates],
        dim=1,
    )
    expected = F.cross_entropy(10 * torch.sigmoid(logits) + 5.0 * cosines, torch.zeros(len(QUERIES), dtype=torch.long))
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    value.backward()
    assert all(parameter.grad is None for parameter in tiny_encoder.parameters())  # the first stage stays as it is
    first_stage_ids = {id(parameter) for parameter in tiny_encoder.parameters()}
    assert not first_stage_ids & {id(parameter) for parameter in loss.parameters()}  # nor is it the loss's
    alone = losses.MultipleNegativesRankingLoss(model, num_negatives=None)([QUERIES, POSITIVES, NEGATIVES])
    assert alone.item() != pytest.approx(value.item(), abs=1e-3)
    assert loss.get_config_dict()["first_stage_scale"] == 5.0


def test_multiple_negatives_ranking_rewards_a_top_positive(model: CrossEncoder) -> None:
    loss = losses.MultipleNegativesRankingLoss(model, activation="identity", scale=1.0)
    top = loss.compute_loss_from_logits(torch.tensor([[5.0, 0.0, 0.0]]))
    bottom = loss.compute_loss_from_logits(torch.tensor([[0.0, 5.0, 0.0]]))
    assert float(loss.compute_loss_from_logits(torch.zeros(1, 3))) == pytest.approx(math.log(3))
    assert top < math.log(3) < bottom


@pytest.mark.parametrize("name", LISTWISE)
def test_listwise_losses_prefer_the_true_order(name: str, model: CrossEncoder) -> None:
    loss = getattr(losses, name)(model, **({"respect_input_order": False} if "MLE" in name else {}))
    perfect = loss.compute_loss_from_scores(torch.tensor([[4.0, 3.0, 2.0, 1.0]]), LABELS, MASK)
    reversed_ = loss.compute_loss_from_scores(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), LABELS, MASK)
    assert perfect < reversed_
    scores = torch.zeros(1, 4, requires_grad=True)
    loss.compute_loss_from_scores(scores, LABELS, MASK).backward()
    assert scores.grad is not None
    # Gradient descent raises the best document's score and lowers the worst one's.
    assert scores.grad[0, 0] < 0 < scores.grad[0, 3]


@pytest.mark.parametrize("name", LISTWISE)
def test_padding_does_not_change_listwise_losses(name: str, model: CrossEncoder) -> None:
    loss = getattr(losses, name)(model, **({"respect_input_order": False} if "MLE" in name else {}))
    scores = torch.tensor([[0.3, 1.2, -0.4]])
    labels = torch.tensor([[1.0, 2.0, 0.0]])
    alone = loss.compute_loss_from_scores(scores, labels, torch.ones(1, 3, dtype=torch.bool))
    padded_mask = torch.tensor([[True, True, True, False, False]])
    for fill in (0.0, 50.0, -50.0):
        padded = torch.cat([scores, torch.full((1, 2), fill)], dim=1)
        padded_labels = torch.cat([labels, torch.full((1, 2), fill)], dim=1)
        assert float(loss.compute_loss_from_scores(padded, padded_labels, padded_mask)) == pytest.approx(
            float(alone), abs=1e-6
        )


def test_ranknet_value_on_one_pair(model: CrossEncoder) -> None:
    loss = losses.RankNetLoss(model, reduction_log="natural")
    value = loss.compute_loss_from_scores(
        torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.ones(1, 2, dtype=torch.bool)
    )
    assert float(value) == pytest.approx(-math.log(1 / (1 + math.exp(-2.0))))


def test_plist_mle_respects_the_input_order_by_default(model: CrossEncoder) -> None:
    loss = losses.PListMLELoss(model)
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    # The labels are ignored: the documents are taken as listed best first.
    assert float(loss.compute_loss_from_scores(scores, LABELS.flip(1), MASK)) == pytest.approx(
        float(loss.compute_loss_from_scores(scores, LABELS, MASK))
    )
