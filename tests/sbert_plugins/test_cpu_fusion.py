"""oneDNN's fused linear kernels for bf16 CPU inference: same results as the plain layers, same weights and
module tree, the plain path for training, other dtypes and approximate GELUs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from transformers.activations import GELUActivation, NewGELUActivation

from sbert_plugins import SentenceEncoder
from sbert_plugins.cpu_fusion import FusedLinear, FusedLinearGelu, fuse_linear_layers, fused_kernels_available

pytestmark = pytest.mark.skipif(not fused_kernels_available(), reason="this torch build has no oneDNN")
TEXTS = ["a man plays guitar", "two dogs run in the park with a red ball", "hello", ""]


class _FeedForward(nn.Module):
    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.dense = nn.Linear(16, 64)
        self.intermediate_act_fn = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_bf16_encoder_runs_fused_layers_with_the_same_results(tiny_model_dir: Path) -> None:
    fused = SentenceEncoder(tiny_model_dir, device="cpu", precision="bf16")
    kinds = {type(m) for m in fused.transformer.auto_model.modules()}
    assert FusedLinear in kinds and FusedLinearGelu in kinds and nn.Linear not in kinds
    plain = SentenceEncoder(tiny_model_dir, device="cpu").to(torch.bfloat16)  # the same bf16 model, unfused
    assert FusedLinear not in {type(m) for m in plain.transformer.auto_model.modules()}
    assert fused.state_dict().keys() == plain.state_dict().keys()
    assert _row_cosines(fused.encode(TEXTS), plain.encode(TEXTS)).min() > 0.999
    fp32 = SentenceEncoder(tiny_model_dir, device="cpu")
    assert FusedLinear not in {type(m) for m in fp32.transformer.auto_model.modules()}  # fp32 keeps exact parity
    assert fused.fingerprint == fp32.fingerprint


def test_fused_layers_take_the_plain_path_for_training_and_other_dtypes() -> None:
    torch.manual_seed(0)
    block = _FeedForward(GELUActivation())
    x = torch.randn(3, 5, 16)
    expected = torch.nn.functional.gelu(block.dense(x))
    assert fuse_linear_layers(block) == 1
    assert type(block.dense) is FusedLinearGelu and isinstance(block.intermediate_act_fn, nn.Identity)
    torch.testing.assert_close(block(x), expected, rtol=0, atol=0)  # grad enabled, fp32: plain
    out = block.to(torch.bfloat16)(x.bfloat16())
    out.sum().backward()  # the plain path keeps gradients
    assert block.dense.weight.grad is not None
    with torch.inference_mode():
        fast = block(x.bfloat16())
    torch.testing.assert_close(fast.float(), expected, rtol=0.05, atol=0.05)


def test_approximate_gelus_are_left_alone() -> None:
    block = _FeedForward(NewGELUActivation())
    assert fuse_linear_layers(block) == 1  # the linear layer only
    assert type(block.dense) is FusedLinear and isinstance(block.intermediate_act_fn, NewGELUActivation)


def test_fused_encoder_pickles_and_saves_a_plain_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    fused = SentenceEncoder(tiny_model_dir, device="cpu", precision="bf16")
    copy = pickle.loads(pickle.dumps(fused))
    np.testing.assert_array_equal(copy.encode(TEXTS), fused.encode(TEXTS))
    fused.save(tmp_path / "saved")
    again = SentenceEncoder(tmp_path / "saved", device="cpu")
    assert FusedLinear not in {type(m) for m in again.transformer.auto_model.modules()}
    assert _row_cosines(again.encode(TEXTS), fused.encode(TEXTS)).min() > 0.999
