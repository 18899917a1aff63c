"""SoftmaxLoss: parity with the reference (shared classifier weights), concatenation options, validation."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, DataError, SentenceEncoder
from trainers.losses import SoftmaxLoss

from .cases import ANCHORS, NEGATIVES, NLI, POSITIVES
from .conftest import assert_matches_reference

OPTIONS = ("concatenation_sent_rep", "concatenation_sent_difference", "concatenation_sent_multiplication")


@pytest.mark.parametrize(
    "options",
    [(True, True, False), (True, True, True), (False, True, True), (True, False, False), (False, False, True)],
)
def test_matches_the_reference(
    options: tuple[bool, bool, bool], model: SentenceEncoder, reference_model: SentenceTransformer
) -> None:
    kwargs: dict[str, Any] = dict(zip(OPTIONS, options, strict=True))
    ours = SoftmaxLoss(model, num_labels=3, **kwargs)
    reference = st_losses.SoftmaxLoss(reference_model, embedding_dimension=32, num_labels=3, **kwargs)
    reference.classifier.load_state_dict(ours.classifier.state_dict())
    assert_matches_reference(ours, reference, model, reference_model, (ANCHORS, NEGATIVES), NLI)


def test_classifier_input_is_u_v_and_abs_difference(model: SentenceEncoder) -> None:
    loss = SoftmaxLoss(model, num_labels=2, embedding_dim=2)
    assert loss.classifier.in_features == 6
    with torch.no_grad():
        # Features are (u0, u1, v0, v1, |u-v|0, |u-v|1): class 0 reads |u - v|[0], class 1 reads |u - v|[1].
        loss.classifier.weight.zero_()
        loss.classifier.weight[0, 4] = 1.0
        loss.classifier.weight[1, 5] = 1.0
        loss.classifier.bias.zero_()
    u, v = torch.tensor([[3.0, 1.0]]), torch.tensor([[1.0, 4.0]])
    assert loss.logits(u, v).tolist() == [[2.0, 3.0]]


def test_loss_falls_when_the_classifier_learns(model: SentenceEncoder) -> None:
    torch.manual_seed(0)
    loss = SoftmaxLoss(model, num_labels=3, embedding_dim=8)
    first, second = torch.randn(12, 8), torch.randn(12, 8)
    labels = torch.arange(12) % 3
    optimizer = torch.optim.SGD(loss.classifier.parameters(), lr=0.5)
    before = loss.compute_loss_from_embeddings([first, second], labels).item()
    for _ in range(50):
        optimizer.zero_grad()
        loss.compute_loss_from_embeddings([first, second], labels).backward()
        optimizer.step()
    assert loss.compute_loss_from_embeddings([first, second], labels).item() < before / 2


def test_classifier_gets_gradients_through_forward(model: SentenceEncoder) -> None:
    loss = SoftmaxLoss(model, num_labels=3)
    loss([model.tokenize(ANCHORS), model.tokenize(POSITIVES)], NLI).backward()
    assert loss.classifier.weight.grad is not None and loss.classifier.weight.grad.abs().sum() > 0


def test_bad_labels_are_data_errors(model: SentenceEncoder) -> None:
    loss = SoftmaxLoss(model, num_labels=3, embedding_dim=4)
    pair = [torch.randn(3, 4), torch.randn(3, 4)]
    with pytest.raises(DataError, match="label 3 at row 2 is invalid; expected integer class ids from 0 to 2"):
        loss.compute_loss_from_embeddings(pair, torch.tensor([0, 1, 3]))
    with pytest.raises(DataError, match="label 0.5 at row 1 is invalid"):
        loss.compute_loss_from_embeddings(pair, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.isfinite(loss.compute_loss_from_embeddings(pair, torch.tensor([0.0, 2.0, 1.0])))
    with pytest.raises(DataError, match="built for embeddings of size 4, found 5"):
        loss.compute_loss_from_embeddings([torch.randn(3, 5), torch.randn(3, 5)], torch.tensor([0, 1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_labels": 1}, "num_labels must be an integer >= 2, found 1"),
        ({"num_labels": 3.0}, "num_labels must be an integer >= 2"),
        ({"num_labels": 3, "concatenation_sent_rep": "yes"}, "concatenation_sent_rep must be True or False"),
        (
            {"num_labels": 3, "concatenation_sent_rep": False, "concatenation_sent_difference": False},
            "at least one of",
        ),
        ({"num_labels": 3, "embedding_dim": 0}, "embedding_dim must be an integer >= 1"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(kwargs: dict[str, Any], message: str, model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match=message):
        SoftmaxLoss(model, **kwargs)
