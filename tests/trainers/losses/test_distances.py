"""The shared similarity and distance helpers: values, and finite gradients where distances are zero."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sbert_plugins import SentenceEncoder
from trainers import losses
from trainers.losses._distances import distance_matrix, pairwise_angle, pairwise_cosine, pairwise_distance

torch.manual_seed(0)
A, B = torch.randn(5, 6), torch.randn(5, 6)


def test_pairwise_values() -> None:
    torch.testing.assert_close(pairwise_cosine(A, B), F.cosine_similarity(A, B))
    torch.testing.assert_close(pairwise_distance(A, B, "euclidean"), (A - B).norm(dim=1))
    torch.testing.assert_close(pairwise_distance(A, B, "manhattan"), (A - B).abs().sum(dim=1))
    torch.testing.assert_close(pairwise_distance(A, B, "cosine"), 1 - F.cosine_similarity(A, B))


def test_angle_similarity_is_the_complex_angle() -> None:
    a, b = F.normalize(A, dim=1), F.normalize(B, dim=1)
    za, zb = torch.complex(a[:, :3], a[:, 3:]), torch.complex(b[:, :3], b[:, 3:])
    # Re(sum(a * conj(b))) is the cosine; Im(...) the sine term of AnglE.
    product = (za * zb.conj()).sum(dim=1)
    torch.testing.assert_close(pairwise_angle(A, B), (product.real + product.imag).abs())
    odd = torch.randn(4, 5)
    torch.testing.assert_close(pairwise_angle(odd, odd), torch.ones(4))


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "cosine"])
def test_distance_matrix_values(metric: str) -> None:
    expected = {
        "euclidean": torch.cdist(A, A),
        "squared_euclidean": torch.cdist(A, A) ** 2,
        "cosine": 1 - F.normalize(A, dim=1) @ F.normalize(A, dim=1).T,
    }[metric]
    torch.testing.assert_close(distance_matrix(A, metric), expected, atol=1e-5, rtol=1e-5)  # type: ignore[arg-type]
    assert torch.all(distance_matrix(A, metric).diagonal().abs() < 1e-6)  # type: ignore[arg-type]


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "cosine"])
def test_distance_matrix_gradient_is_finite_for_duplicate_rows(metric: str) -> None:
    x = torch.randn(3, 4).repeat(2, 1).requires_grad_()
    distance_matrix(x, metric).sum().backward()  # type: ignore[arg-type]
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("name", "kwargs", "labels"),
    [
        ("BatchHardTripletLoss", {"distance": "euclidean"}, torch.tensor([0, 0, 1, 1])),
        ("BatchHardSoftMarginTripletLoss", {"distance": "euclidean"}, torch.tensor([0, 0, 1, 1])),
        ("BatchSemiHardTripletLoss", {"distance": "euclidean"}, torch.tensor([0, 0, 1, 1])),
        ("BatchAllTripletLoss", {"distance": "euclidean"}, torch.tensor([0, 0, 1, 1])),
        ("ContrastiveLoss", {"distance": "euclidean"}, torch.tensor([1, 1, 0, 0])),
        ("OnlineContrastiveLoss", {"distance": "euclidean"}, torch.tensor([1, 1, 0, 0])),
    ],
)
def test_identical_texts_give_finite_gradients(
    name: str, kwargs: dict[str, str], labels: torch.Tensor, model: SentenceEncoder
) -> None:
    loss = getattr(losses, name)(model, **kwargs)
    row = torch.randn(1, 4)
    same = row.repeat(4, 1).requires_grad_()
    columns = [same] if loss.max_columns == 1 else [same, same * 1.0]
    loss.compute_loss_from_embeddings(columns, labels).backward()
    assert same.grad is not None and torch.isfinite(same.grad).all()
