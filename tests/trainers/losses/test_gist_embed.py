"""GISTEmbedLoss and CachedGISTEmbedLoss: reference parity (values and gradients), the guide's filtering, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers import losses as st_losses

from sbert_plugins import ConfigError, SentenceEncoder
from tests.conftest import build_tiny_modules
from trainers.losses import CachedGISTEmbedLoss, GISTEmbedLoss

from .cases import ANCHORS, NEGATIVES, POSITIVES, SECOND_NEGATIVES
from .conftest import assert_matches_reference, features

TRIPLETS = (ANCHORS, POSITIVES, NEGATIVES)


@pytest.fixture(scope="module", params=["same-tokenizer", "retokenized"])
def guide_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny guide with other weights; "retokenized" has a shorter max_seq_length, so texts are tokenized again."""
    root = tmp_path_factory.mktemp("guide")
    max_seq_length = 64 if request.param == "same-tokenizer" else 16
    SentenceEncoder(modules=build_tiny_modules(root / "build", seed=7, max_seq_length=max_seq_length)).save(
        root / "model"
    )
    return root / "model"


@pytest.fixture(scope="module")
def guides(guide_dir: Path) -> tuple[SentenceEncoder, SentenceTransformer]:
    """The guide loaded by us and by the reference (eval mode; the losses only read it)."""
    return SentenceEncoder(guide_dir, device="cpu"), SentenceTransformer(str(guide_dir), device="cpu").eval()


SETTINGS: list[tuple[dict[str, Any], tuple[list[str], ...]]] = [
    ({}, (ANCHORS, POSITIVES)),
    ({}, TRIPLETS),
    ({"temperature": 0.05, "margin": 0.05}, TRIPLETS),
    ({"margin_strategy": "relative", "margin": 0.1, "contrast_anchors": False}, (ANCHORS, POSITIVES)),
    ({"contrast_positives": False, "temperature": 0.1}, TRIPLETS),
]


@pytest.mark.parametrize(("kwargs", "columns"), SETTINGS)
def test_matches_the_reference(
    kwargs: dict[str, Any],
    columns: tuple[list[str], ...],
    guides: tuple[SentenceEncoder, SentenceTransformer],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    guide, reference_guide = guides
    ours = GISTEmbedLoss(model, guide=guide, **kwargs)
    assert ours.must_retokenize == (guide.max_seq_length < model.max_seq_length)
    assert_matches_reference(
        ours, st_losses.GISTEmbedLoss(reference_model, reference_guide, **kwargs), model, reference_model, columns, None
    )


@pytest.mark.parametrize(
    ("kwargs", "columns", "mini_batch_size"),
    [(*SETTINGS[1], 3), (*SETTINGS[2], 2), (*SETTINGS[3], 5)],
)
def test_the_cached_loss_matches_the_reference(
    kwargs: dict[str, Any],
    columns: tuple[list[str], ...],
    mini_batch_size: int,
    guides: tuple[SentenceEncoder, SentenceTransformer],
    model: SentenceEncoder,
    reference_model: SentenceTransformer,
) -> None:
    guide, reference_guide = guides
    assert_matches_reference(
        CachedGISTEmbedLoss(model, guide=guide, mini_batch_size=mini_batch_size, **kwargs),
        st_losses.CachedGISTEmbedLoss(reference_model, reference_guide, mini_batch_size=mini_batch_size, **kwargs),
        model,
        reference_model,
        columns,
        None,
    )


def test_a_candidate_the_guide_rates_above_the_positive_leaves_the_softmax(model: SentenceEncoder) -> None:
    anchors = torch.eye(3)
    positives = torch.tensor([[1.0, 0.2, 0.0], [0.0, 1.0, 0.05], [0.2, 0.0, 1.0]])
    guide = [anchors.clone(), positives.clone()]
    # The guide sees row 2's positive as closer to anchor 0 than anchor 0's own positive: a false negative
    # for anchor 0 (and for no other anchor).
    guide[1][2] = torch.tensor([1.0, 0.0, 0.1])
    loss = GISTEmbedLoss(model, guide=model, temperature=0.5, contrast_anchors=False, contrast_positives=False)
    value = loss.compute_loss_from_embeddings([anchors, positives], guide_embeddings=guide)
    logits = F.normalize(anchors, dim=1) @ F.normalize(positives, dim=1).T / 0.5
    kept = logits.clone()
    kept[0, 2] = -torch.inf
    expected = F.cross_entropy(kept, torch.arange(3))
    assert value.item() == pytest.approx(expected.item(), abs=1e-6)
    assert value < F.cross_entropy(logits, torch.arange(3))


def test_the_cached_maths_equals_the_plain_maths(model: SentenceEncoder) -> None:
    torch.manual_seed(0)
    embeddings = [torch.randn(7, 16) for _ in range(4)]
    guide = [e + 0.3 * torch.randn(7, 16) for e in embeddings]
    plain = GISTEmbedLoss(model, guide=model, margin=0.1).compute_loss_from_embeddings(
        embeddings, guide_embeddings=guide
    )
    cached = CachedGISTEmbedLoss(model, guide=model, margin=0.1, mini_batch_size=2)
    value = cached.compute_loss_from_embeddings(embeddings, guide_embeddings=guide)
    assert value.item() == pytest.approx(plain.item(), abs=1e-6)


def test_the_guide_stays_in_eval_mode_and_without_gradients(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    guide = SentenceEncoder(modules=build_tiny_modules(tmp_path, seed=3), device="cpu")
    loss = GISTEmbedLoss(tiny_encoder, guide=guide).train()
    assert tiny_encoder.training and not guide.training
    loss(features(tiny_encoder, (ANCHORS, POSITIVES, SECOND_NEGATIVES))).backward()
    assert all(p.grad is None for p in guide.parameters())
    assert any(p.grad is not None for p in tiny_encoder.parameters())


def test_a_guide_given_by_folder_is_loaded_and_named_in_the_config(model: SentenceEncoder, guide_dir: Path) -> None:
    loss = GISTEmbedLoss(model, guide=str(guide_dir))
    assert isinstance(loss.guide, SentenceEncoder)
    assert loss.get_config_dict()["guide"] == str(guide_dir)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"guide": 3}, "guide must be a SentenceEncoder or the name or folder of one, found int"),
        ({"temperature": 0}, "temperature must be a finite number > 0"),
        ({"margin_strategy": "percent"}, r"margin_strategy must be one of \['absolute', 'relative'\]"),
        ({"margin": -0.1}, "margin must be a finite number >= 0"),
        ({"contrast_anchors": "yes"}, "contrast_anchors must be True or False"),
        ({"mini_batch_size": 0}, "mini_batch_size must be an integer >= 1"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any], message: str, model: SentenceEncoder) -> None:
    with pytest.raises(ConfigError, match=message):
        CachedGISTEmbedLoss(model, **{"guide": model, **kwargs})
