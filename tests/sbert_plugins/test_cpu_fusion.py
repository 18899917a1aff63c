"""oneDNN's fused linear kernels for fp32 and bf16 CPU inference: same results as the plain layers, same weights
and module tree, the plain path for training, fp16 and approximate GELUs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from transformers.activations import GELUActivation, NewGELUActivation

from sbert_plugins import CrossEncoder, SentenceEncoder
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


def _plain_copy(model: nn.Module) -> nn.Module:
    """``model`` with its fused layers turned back into ``nn.Linear`` and the GELU put back where it was."""
    plain = pickle.loads(pickle.dumps(model))
    for module in plain.modules():
        if type(getattr(module, "dense", None)) is FusedLinearGelu:
            module.intermediate_act_fn = GELUActivation()
    for module in plain.modules():
        if isinstance(module, FusedLinear | FusedLinearGelu):
            module.__class__ = nn.Linear
    return plain


def _kinds(model: nn.Module) -> set[type]:
    return {type(m) for m in model.modules()}


def test_bf16_encoder_runs_fused_layers_with_the_same_results(tiny_model_dir: Path) -> None:
    fused = SentenceEncoder(tiny_model_dir, device="cpu", precision="bf16")
    assert FusedLinear in _kinds(fused) and FusedLinearGelu in _kinds(fused) and nn.Linear not in _kinds(fused)
    plain = _plain_copy(fused)
    assert FusedLinear not in _kinds(plain)
    assert fused.state_dict().keys() == plain.state_dict().keys()
    assert _row_cosines(fused.encode(TEXTS), plain.encode(TEXTS)).min() > 0.999
    fp32 = SentenceEncoder(tiny_model_dir, device="cpu")
    assert fused.fingerprint == fp32.fingerprint


def test_fp32_encoder_runs_fused_layers_within_rounding(tiny_model_dir: Path) -> None:
    fused = SentenceEncoder(tiny_model_dir, device="cpu")
    assert FusedLinear in _kinds(fused) and FusedLinearGelu in _kinds(fused) and nn.Linear not in _kinds(fused)
    plain = _plain_copy(fused)
    np.testing.assert_allclose(fused.encode(TEXTS), plain.encode(TEXTS), rtol=0, atol=1e-6)
    assert fused.fingerprint == plain.fingerprint


def test_cross_encoder_runs_fused_layers_on_cpu(tiny_model_dir: Path) -> None:
    pairs = [("a man plays guitar", "someone plays music"), ("hello", "")]
    torch.manual_seed(0)
    fused = CrossEncoder(tiny_model_dir, device="cpu")
    assert FusedLinear in _kinds(fused.model) and FusedLinearGelu in _kinds(fused.model)
    plain = _plain_copy(fused)
    np.testing.assert_allclose(fused.predict(pairs), plain.predict(pairs), rtol=0, atol=1e-6)


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
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert block.float()(x).dtype == torch.bfloat16  # autocast casts for the plain layers only
    with torch.no_grad():  # exporters trace the plain layers: ONNX has no oneDNN op
        traced = torch.jit.trace(block.float(), x)
    assert "mkldnn" not in str(traced.inlined_graph) and "aten::gelu" in str(traced.inlined_graph)


def test_approximate_gelus_are_left_alone() -> None:
    block = _FeedForward(NewGELUActivation())
    assert fuse_linear_layers(block) == 1  # the linear layer only
    assert type(block.dense) is FusedLinear and isinstance(block.intermediate_act_fn, NewGELUActivation)


def test_fused_encoder_pickles_and_saves_a_plain_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    fused = SentenceEncoder(tiny_model_dir, device="cpu", precision="bf16")
    copy = pickle.loads(pickle.dumps(fused))
    np.testing.assert_array_equal(copy.encode(TEXTS), fused.encode(TEXTS))
    fused.save(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["hidden_act"] == "gelu"  # the GELU moved into the kernel is still the model's activation
    again = SentenceEncoder(tmp_path / "saved", device="cpu")
    assert again.state_dict().keys() == fused.state_dict().keys()
    assert _row_cosines(again.encode(TEXTS), fused.encode(TEXTS)).min() > 0.999
