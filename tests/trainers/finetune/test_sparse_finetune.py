"""``finetune --sparse-base`` on the tiny models: an inference-free SPLADE built from a masked-LM checkpoint,
query weights from the corpus's IDF, trained on the pairs and title pseudo-queries, the better kept in
``<output>/sparse``, and the learned sparse stacks compared with the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sbert_plugins.sparse import SparseEncoder
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from sbert_plugins.stack_record import read_stack_record
from tests.sbert_plugins.sparse.conftest import build_hf_folder
from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.sparse import SPARSE_DIR, load_sparse_base


def test_sparse_base_gets_idf_query_weights(tmp_path: Path) -> None:
    base = build_hf_folder(tmp_path / "mlm", mlm_head=True)
    config = FinetuneConfig(output=str(tmp_path / "out"), sparse_base=str(base))
    corpus = ["the dog eats bread", "the cat sleeps", "the dog runs"]
    model = load_sparse_base(config, corpus)
    assert model.is_inference_free
    static = next(m for m in model.modules() if isinstance(m, SparseStaticEmbedding))
    ids = {t: static.token_ids([t])[0][0] for t in ("the", "dog", "cat", "harp")}
    weight = static.weight.detach()
    # in every document < in two < in one < in none
    assert weight[ids["the"]] < weight[ids["dog"]] < weight[ids["cat"]] < weight[ids["harp"]]
    assert float(weight[ids["the"]]) == pytest.approx(torch.log(torch.tensor(0.5 / 3.5 + 1)).item(), rel=1e-6)
    again = load_sparse_base(config, corpus)  # seeded: the same fresh head in every phase
    assert again.fingerprint == model.fingerprint


def test_finetune_with_a_sparse_base(tiny_model_dir: Path, pair_files: tuple[Path, Path], tmp_path: Path) -> None:
    pairs, corpus = pair_files
    out = tmp_path / "model"
    config = FinetuneConfig(
        base=str(tiny_model_dir),
        output=str(out),
        sparse_base=str(build_hf_folder(tmp_path / "mlm", mlm_head=True)),
        sparse_pseudo_queries=4,
        sparse_learning_rate=1e-3,
        batch_size=4,
        learning_rate=1e-3,
        skip_top=1,
        dev_size=6,
        show_progress=False,
    )
    report = finetune(pairs, config, corpus=corpus)
    sparse = report["sparse"]
    assert sparse["kept"] in ("base", "fine-tuned") and sparse["training"]["rows"] >= 16
    for part in ("base", "fine_tuned"):
        assert 0.0 <= sparse[part]["ndcg@10"] <= 1.0 and sparse[part]["corpus_active_dims"] > 0
    assert {"sparse_base_eval", "sparse_train", "sparse_fine_tuned_eval"} <= set(report["timings_s"])
    assert {"sparse", "dense+sparse"} <= set(report["stacks"])
    kept = SparseEncoder(str(out / SPARSE_DIR))
    assert kept.is_inference_free
    better = sparse["fine_tuned"]["ndcg@10"] > sparse["base"]["ndcg@10"]
    assert (sparse["kept"] == "fine-tuned") == better
    record = read_stack_record(out)
    assert record is not None and record.name == report["stack"]
    if record.sparse_model is not None:
        assert record.sparse_fingerprint == kept.fingerprint
    manifest = json.loads((out / ".finetune" / "manifest.json").read_text())
    assert f"{SPARSE_DIR}/modules.json" in manifest["files"]
    assert not (out / ".finetune" / SPARSE_DIR).exists()  # the training folder is cleaned up
    card = (out / "README.md").read_text()
    assert "| sparse base |" in card and "dense+sparse" in card


def test_a_headless_base_gets_an_identity_head_with_the_asked_sparsity(tmp_path: Path) -> None:
    from sbert_plugins.sparse.mlm_transformer import MLMTransformer
    from trainers.finetune.sparse import has_mlm_head

    headless, headed = (
        build_hf_folder(tmp_path / "bert", mlm_head=False),
        build_hf_folder(tmp_path / "mlm", mlm_head=True),
    )
    assert not has_mlm_head(headless) and has_mlm_head(headed)
    corpus = ["the dog eats bread in the kitchen", "a man plays guitar in the park", "the moon is big at night"] * 8
    config = FinetuneConfig(output=str(tmp_path / "out"), sparse_base=str(headless), sparse_init_active_dims=20)
    model = load_sparse_base(config, corpus)
    mlm = next(m for m in model.modules() if isinstance(m, MLMTransformer))
    dense = next(m for m in mlm.modules() if hasattr(m, "transform")).transform.dense
    assert torch.equal(dense.weight.detach(), torch.eye(dense.in_features))
    active = model.encode_documents(corpus[:3]).to_dense().gt(0).sum(dim=1).float().mean()
    assert 10 <= float(active) <= 30  # about the 20 asked for (set on the sample, over a 200-token vocabulary)
