"""Encoder precisions (fp32, bf16, fp16, int8 through ONNX Runtime) and CPU thread settings."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins import ConfigError, MissingDependencyError, SentenceEncoder
from sbert_plugins import device as device_module
from sbert_plugins.cli import build_parser
from sbert_plugins.device import NUM_THREADS_ENV, intra_op_threads, resolve_num_threads
from sbert_plugins.onnx_backend import CACHE_ENV, INT8_FILE

TEXTS = [
    "a man plays guitar",
    "hello",
    "two dogs are running in the park with a big red ball and a small blue ball",
    "",
    "the cat sits on the chair",
    "a woman is reading a book in the kitchen at night",
]


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export cache for the session, so the tiny model is exported once."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture()
def int8_env(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    monkeypatch.setenv(CACHE_ENV, str(onnx_cache))
    return onnx_cache


@pytest.mark.parametrize(("precision", "min_cosine"), [("bf16", 0.999), ("fp16", 0.999)])
def test_float_precisions_stay_close_to_fp32(tiny_model_dir: Path, precision: str, min_cosine: float) -> None:
    fp32 = SentenceEncoder(tiny_model_dir, device="cpu").encode(TEXTS)
    model = SentenceEncoder(tiny_model_dir, device="cpu", precision=precision)  # type: ignore[arg-type]
    assert next(model.parameters()).dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    low = model.encode(TEXTS)
    assert low.dtype == np.float32
    assert row_cosines(fp32, low).min() >= min_cosine


def test_int8_stays_close_to_fp32_and_is_cached_on_disk(tiny_model_dir: Path, int8_env: Path) -> None:
    fp32 = SentenceEncoder(tiny_model_dir, device="cpu")
    model = SentenceEncoder(tiny_model_dir, device="cpu", precision="int8")
    assert model.precision == "int8"
    path = model._int8.path  # type: ignore[union-attr]
    assert path.name == INT8_FILE and path.is_relative_to(int8_env)
    out = model.encode(TEXTS)
    assert out.dtype == np.float32 and out.shape == (len(TEXTS), 32)
    assert row_cosines(fp32.encode(TEXTS), out).min() >= 0.99
    # int8 really ran: the result differs from the fp32 one. Activation scales are per batch, so
    # another batching changes the result a little, never more than the int8 tolerance.
    assert not np.allclose(out, fp32.encode(TEXTS), atol=1e-6)
    assert row_cosines(model.encode(TEXTS, batch_size=1), out).min() >= 0.99

    modified = path.stat().st_mtime_ns
    again = SentenceEncoder(tiny_model_dir, device="cpu", precision="int8")
    assert again._int8.path == path and path.stat().st_mtime_ns == modified  # type: ignore[union-attr]


def test_int8_cache_is_keyed_by_the_weights(tiny_model_dir: Path, int8_env: Path) -> None:
    first = SentenceEncoder(tiny_model_dir, device="cpu", precision="int8")
    changed = SentenceEncoder(tiny_model_dir, device="cpu")
    with torch.no_grad():
        changed.transformer.auto_model.encoder.layer[0].output.dense.weight.mul_(1.5)
    other = SentenceEncoder(modules=list(changed), device="cpu", precision="int8")
    assert other._int8.path != first._int8.path  # type: ignore[union-attr]


def test_int8_encoder_survives_pickling(tiny_model_dir: Path, int8_env: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu", precision="int8")
    expected = model.encode(TEXTS)
    copy = pickle.loads(pickle.dumps(model))  # what EncodePool does to send it to a worker
    np.testing.assert_allclose(copy.encode(TEXTS), expected, atol=1e-6)


def test_int8_training_forward_still_uses_the_float_weights(tiny_model_dir: Path, int8_env: Path) -> None:
    model = SentenceEncoder(tiny_model_dir, device="cpu", precision="int8")
    out = model(model.tokenize(TEXTS[:2]))["sentence_embedding"]
    out.sum().backward()
    assert any(p.grad is not None for p in model.parameters())


def test_int8_without_onnxruntime_names_the_extra(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "sbert-plugins\[onnx\]"'):
        SentenceEncoder(tiny_model_dir, device="cpu", precision="int8")


def test_int8_is_cpu_only_and_unknown_precisions_are_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="CPU only"):
        SentenceEncoder(tiny_model_dir, device="meta", precision="int8")
    with pytest.raises(ConfigError, match=r"precision 'int4' .* 'int8'"):
        SentenceEncoder(tiny_model_dir, precision="int4")  # type: ignore[arg-type]


@pytest.mark.slow
def test_compiled_encoder_matches_eager_and_saves_like_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    eager = SentenceEncoder(tiny_model_dir, device="cpu")
    model = SentenceEncoder(tiny_model_dir, device="cpu", compile_model=True)
    np.testing.assert_allclose(model.encode(TEXTS), eager.encode(TEXTS), atol=1e-5)
    assert model._compiled is not None
    assert list(model.state_dict()) == list(eager.state_dict())  # the compiled copy is not a submodule
    model.save(tmp_path / "saved")
    np.testing.assert_allclose(SentenceEncoder(tmp_path / "saved").encode(TEXTS), eager.encode(TEXTS), atol=1e-5)
    restored = pickle.loads(pickle.dumps(model))
    assert restored._compiled is None and restored.compile_model


def test_compile_model_refuses_int8(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="compile_model"):
        SentenceEncoder(tiny_model_dir, device="cpu", precision="int8", compile_model=True)


def test_num_threads_applies_during_encode_and_is_restored(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    model = SentenceEncoder(tiny_model_dir, device="cpu", num_threads=1)
    model[1].register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    model.encode(TEXTS)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="num_threads"):
        SentenceEncoder(tiny_model_dir, device="cpu", num_threads=0)


def test_num_threads_default_env_and_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NUM_THREADS_ENV, raising=False)
    assert resolve_num_threads(3) == 3
    monkeypatch.setattr(device_module, "available_cpus", lambda: 10_000)
    assert resolve_num_threads(None) is None  # torch's own count is kept when it fits the CPUs
    monkeypatch.setattr(device_module, "available_cpus", lambda: 1)
    assert resolve_num_threads(None) == (1 if torch.get_num_threads() > 1 else None)
    monkeypatch.setenv(NUM_THREADS_ENV, "2")
    assert resolve_num_threads(None) == 2 and resolve_num_threads(5) == 5
    monkeypatch.setenv(NUM_THREADS_ENV, "many")
    with pytest.raises(ConfigError, match=NUM_THREADS_ENV):
        resolve_num_threads(None)


def test_intra_op_threads_restores_after_an_error() -> None:
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), intra_op_threads(target):
        assert torch.get_num_threads() == target
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_cli_precision_flag_accepts_int8() -> None:
    args = build_parser().parse_args(["encode", "in.txt", "-o", "out.npy", "--precision", "int8"])
    assert args.precision == "int8"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["info", "--precision", "int4"])
