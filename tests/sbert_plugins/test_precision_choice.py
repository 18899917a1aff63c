"""``precision="auto"``: the choice per device and CPU flag set, and how the encoder and the CLI report it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sbert_plugins import ConfigError, SentenceEncoder
from sbert_plugins import precision_choice as choice_module
from sbert_plugins.cli import build_parser, main
from sbert_plugins.modules import StaticEmbedding
from sbert_plugins.precision_choice import CpuInfo, choose_precision, read_cpu_info

CPU = torch.device("cpu")
# Flag sets of real machines, cut to the flags that matter.
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"})
EPYC_GENOA = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
CASCADE_LAKE = frozenset({"avx2", "avx512f", "avx512_vnni"})
ALDER_LAKE = frozenset({"avx2", "avx_vnni"})
BROADWELL = frozenset({"avx2"})


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (SAPPHIRE_RAPIDS, "bf16"),
        (EPYC_GENOA, "bf16"),
        (CASCADE_LAKE, "fp32"),
        (ALDER_LAKE, "fp32"),
        (BROADWELL, "fp32"),
        (frozenset(), "fp32"),
    ],
)
def test_cpu_choice_follows_the_bf16_flags(flags: frozenset[str], expected: str) -> None:
    choice = choose_precision(CPU, cpu_flags=flags)
    assert choice.precision == expected
    named = [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags]
    assert all(flag in choice.reason for flag in named)


def test_device_and_model_decide_before_the_cpu_flags() -> None:
    assert choose_precision(torch.device("cuda"), cuda_bf16=True).precision == "bf16"
    assert choose_precision(torch.device("cuda"), cuda_bf16=False).precision == "fp16"
    assert choose_precision(torch.device("mps"), cpu_flags=SAPPHIRE_RAPIDS).precision == "fp32"
    static = choose_precision(CPU, cpu_flags=SAPPHIRE_RAPIDS, runs_transformer=False)
    assert static.precision == "fp32" and "does not start with a Transformer" in static.reason


def test_cpu_info_is_read_from_the_first_processor(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Fake Xeon\nflags\t\t: fpu avx2 amx_bf16\n\n"
        "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n",
        encoding="utf-8",
    )
    assert read_cpu_info(cpuinfo) == CpuInfo("Fake Xeon", frozenset({"fpu", "avx2", "amx_bf16"}))
    assert read_cpu_info(tmp_path / "absent") == CpuInfo("", frozenset())


@pytest.fixture()
def fake_cpu(monkeypatch: pytest.MonkeyPatch) -> dict[str, frozenset[str]]:
    """Set ``fake_cpu["flags"]`` to the flags every later ``read_cpu_info()`` reports."""
    state = {"flags": frozenset[str]()}
    monkeypatch.setattr(choice_module, "read_cpu_info", lambda: CpuInfo("fake", state["flags"]))
    return state


def test_auto_encoder_runs_the_chosen_precision_and_logs_it(
    tiny_model_dir: Path, fake_cpu: dict[str, frozenset[str]], caplog: pytest.LogCaptureFixture
) -> None:
    texts = ["a man plays guitar", "the cat sits on the chair", "hello"]
    fp32 = SentenceEncoder(tiny_model_dir, device="cpu").encode(texts)
    fake_cpu["flags"] = SAPPHIRE_RAPIDS
    with caplog.at_level(logging.INFO, logger="sbert_plugins.encoder"):
        fast = SentenceEncoder(tiny_model_dir, device="cpu", precision="auto")
    assert fast.precision == "bf16" and next(fast.parameters()).dtype == torch.bfloat16
    assert fast.precision_reason.startswith("auto:") and "amx_bf16" in fast.precision_reason
    assert "precision='auto' chose 'bf16'" in caplog.text
    assert np.allclose(fast.encode(texts), fp32, atol=0.05)

    fake_cpu["flags"] = CASCADE_LAKE
    plain = SentenceEncoder(tiny_model_dir, device="cpu", precision="auto")
    assert plain.precision == "fp32"
    np.testing.assert_array_equal(plain.encode(texts), fp32)  # exact: the fp32 path itself
    assert SentenceEncoder(tiny_model_dir, device="cpu").precision_reason == "asked for"


def test_auto_keeps_static_models_in_fp32(tiny_encoder: SentenceEncoder, fake_cpu: dict[str, frozenset[str]]) -> None:
    fake_cpu["flags"] = SAPPHIRE_RAPIDS
    static = StaticEmbedding(tiny_encoder.tokenizer.backend_tokenizer, embedding_dim=32)
    model = SentenceEncoder(modules=[static], device="cpu", precision="auto")
    assert model.precision == "fp32" and next(model.parameters()).dtype == torch.float32


def test_unknown_precisions_are_refused_with_auto_among_the_choices(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="'auto'"):
        SentenceEncoder(tiny_model_dir, device="cpu", precision="int4")  # type: ignore[arg-type]


def test_cli_accepts_auto_and_info_names_the_choice(
    tiny_model_dir: Path, fake_cpu: dict[str, frozenset[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_parser().parse_args(["encode", "in.txt", "-o", "o.npy", "--precision", "auto"]).precision == "auto"
    fake_cpu["flags"] = EPYC_GENOA
    assert main(["info", "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "auto"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["precision"] == "bf16" and "avx512_bf16" in info["precision_reason"]
