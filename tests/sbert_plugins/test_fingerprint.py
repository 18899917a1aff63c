"""Model identity: the same files give the same fingerprint anywhere and in any precision; training changes it."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import torch

from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier


def _one_step(model: torch.nn.Module, loss: torch.Tensor) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    loss.backward()
    optimizer.step()


def test_same_files_elsewhere_and_in_bf16_give_the_same_fingerprint(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny_model_dir, copy)
    first = SentenceEncoder(tiny_model_dir, device="cpu")
    assert len(first.fingerprint) == 16
    assert SentenceEncoder(copy, device="cpu").fingerprint == first.fingerprint
    assert SentenceEncoder(copy, device="cpu", precision="bf16").fingerprint == first.fingerprint
    first.save(tmp_path / "saved")
    assert SentenceEncoder(tmp_path / "saved", device="cpu").fingerprint == first.fingerprint


def test_a_training_step_changes_the_fingerprint(tiny_encoder: SentenceEncoder) -> None:
    before = tiny_encoder.fingerprint
    tiny_encoder.train()
    features = tiny_encoder.tokenize(["a man plays guitar", "a dog runs"])
    _one_step(tiny_encoder, tiny_encoder(features)["sentence_embedding"].pow(2).sum())
    assert tiny_encoder.fingerprint != before


def test_a_fused_optimizer_step_changes_the_fingerprint(tiny_encoder: SentenceEncoder) -> None:
    """The Trainer's fused AdamW writes the weights without bumping their version counters."""
    before = tiny_encoder.fingerprint
    tiny_encoder.train()
    features = tiny_encoder.tokenize(["a man plays guitar", "a dog runs"])
    tiny_encoder(features)["sentence_embedding"].pow(2).sum().backward()
    torch.optim.AdamW(tiny_encoder.parameters(), lr=1e-5, fused=True).step()
    assert tiny_encoder.fingerprint != before


def test_output_settings_are_part_of_the_identity(tiny_model_dir: Path) -> None:
    plain = SentenceEncoder(tiny_model_dir, device="cpu")
    prompted = SentenceEncoder(tiny_model_dir, device="cpu", prompts={"query": "query: "})
    truncated = SentenceEncoder(tiny_model_dir, device="cpu", truncate_dim=16)
    dot = SentenceEncoder(tiny_model_dir, device="cpu", similarity_fn_name="dot")
    assert len({plain.fingerprint, prompted.fingerprint, truncated.fingerprint, dot.fingerprint}) == 4


def test_a_pickled_copy_keeps_the_fingerprint_in_bf16(tiny_model_dir: Path) -> None:
    encoder = SentenceEncoder(tiny_model_dir, device="cpu", precision="bf16")
    copy = pickle.loads(pickle.dumps(encoder))
    assert copy.fingerprint == encoder.fingerprint == SentenceEncoder(tiny_model_dir, device="cpu").fingerprint


def test_cross_encoder_fingerprint(tmp_path: Path) -> None:
    folder = build_tiny_classifier(tmp_path / "ce")
    shutil.copytree(folder, tmp_path / "copy")
    model = CrossEncoder(folder, device="cpu")
    assert CrossEncoder(tmp_path / "copy", device="cpu").fingerprint == model.fingerprint
    assert CrossEncoder(folder, device="cpu", max_length=16).fingerprint != model.fingerprint
    other = CrossEncoder(build_tiny_classifier(tmp_path / "other", seed=1), device="cpu")
    assert other.fingerprint != model.fingerprint
    before = model.fingerprint
    model.train()
    _one_step(model, model(model.tokenize([("a man", "plays guitar")])).sum())
    assert model.fingerprint != before
