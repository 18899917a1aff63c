"""The Trainer on a SparseEncoder: SpladeLoss + SparseMultipleNegativesRankingLoss lowers the loss, and the saved
folder loads in the reference's SparseEncoder (and ours) with the same vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sentence_transformers import SparseEncoder as ReferenceSparseEncoder
from torch import Tensor

from sbert_plugins import SparseEncoder
from sbert_plugins.evaluation import SparseInformationRetrievalEvaluator
from trainers import Trainer, TrainingConfig, losses

SUBJECTS = ("man", "woman", "dog", "cat", "child", "boy", "girl", "horse")
ACTIONS = ("plays guitar", "eats bread", "runs in the park", "sits on a chair", "reads a book")
ROWS = [{"query": f"what does the {s} do", "answer": f"the {s} {a}"} for s in SUBJECTS for a in ACTIONS[:2]]


def _mean_losses(log: Path) -> list[float]:
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [r["loss"] for r in records if "loss" in r]


def test_splade_training_lowers_the_loss_and_saves_a_folder_the_reference_loads(
    splade_dir: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = SparseEncoder(splade_dir, device="cpu")
    loss = losses.SpladeLoss(
        model,
        losses.SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=1e-3,
        query_regularizer_weight=1e-3,
    )
    queries = {str(i): row["query"] for i, row in enumerate(ROWS)}
    corpus = {str(i): row["answer"] for i, row in enumerate(ROWS)}
    evaluator = SparseInformationRetrievalEvaluator(queries, corpus, {q: {q} for q in queries}, name="dev")
    config = TrainingConfig(
        batch_size=8,
        max_steps=20,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        logging_steps=5,
        output_dir=str(tmp_path / "out"),
        show_progress=False,
        seed=1,
    )
    metrics = Trainer(model, loss=loss, train_data=ROWS, config=config, evaluator=evaluator).train()

    logged = _mean_losses(tmp_path / "out" / "training_log.jsonl")
    assert len(logged) == 4 and logged[-1] < 0.7 * logged[0], logged
    assert metrics["dev_corpus_active_dims"] > 0 and 0 <= metrics["dev_dot_ndcg@10"] <= 1

    texts = ["what does the dog do", "the cat eats bread"]
    reference = ReferenceSparseEncoder(str(tmp_path / "out"), device="cpu")
    reloaded = SparseEncoder(tmp_path / "out", device="cpu")
    ours = model.encode(texts).to_dense()
    torch.testing.assert_close(reloaded.encode(texts).to_dense(), ours, rtol=0, atol=1e-6)
    torch.testing.assert_close(reference.encode(texts).to_dense(), ours, rtol=0, atol=1e-5)
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "SpladeLoss" in card and "SparseEncoder(" in card


@pytest.mark.parametrize("cached", [False, True])
def test_inference_free_training_moves_both_routes(inference_free_dir: Path, tmp_path: Path, cached: bool) -> None:
    model = SparseEncoder(inference_free_dir, device="cpu")
    router = model[0]
    before = {route: [p.detach().clone() for p in router.chain(route).parameters()] for route in ("query", "document")}
    inner = losses.SparseMultipleNegativesRankingLoss(model)
    loss = (
        losses.CachedSpladeLoss(model, inner, document_regularizer_weight=1e-3, mini_batch_size=3)
        if cached
        else losses.SpladeLoss(model, inner, document_regularizer_weight=1e-3)
    )
    config = TrainingConfig(
        batch_size=8,
        max_steps=2,
        learning_rate=1e-2,
        output_dir=str(tmp_path / "out"),
        show_progress=False,
        router_mapping={"query": "query", "answer": "document"},
    )
    Trainer(model, loss=loss, train_data=ROWS, config=config).train()
    for route, parameters in before.items():
        after = list(router.chain(route).parameters())
        assert any(not torch.equal(a, b) for a, b in zip(parameters, after, strict=True)), route
    reference = ReferenceSparseEncoder(str(tmp_path / "out"), device="cpu")
    query = ["what does the dog do"]
    torch.testing.assert_close(
        reference.encode_query(query).to_dense(), model.encode_queries(query).to_dense(), rtol=0, atol=1e-5
    )


def test_train_command_trains_a_sparse_model_with_a_sparse_loss(
    splade_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sbert_plugins.cli import main

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    loss_args = {"loss": "SparseMultipleNegativesRankingLoss", "document_regularizer_weight": 1e-3}
    args = ["train", "--model", str(splade_dir), "--device", "cpu", "--train", str(train), "--loss", "splade"]
    args += ["--loss-args", json.dumps(loss_args), "--batch-size", "8", "--output", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["train_steps"] == 2
    assert SparseEncoder(tmp_path / "out", device="cpu").encode("the dog").is_sparse
    assert main([*args, "--eval", str(train)]) == 2
    assert "SparseInformationRetrievalEvaluator" in capsys.readouterr().err


def _train_csr(model_dir: Path, out: Path, *, stop_at: int | None = None, resume: bool = False) -> dict[str, Tensor]:
    model = SparseEncoder(model_dir, device="cpu")
    config = TrainingConfig(batch_size=4, learning_rate=1e-3, save_steps=2, output_dir=str(out), show_progress=False)
    callbacks = [lambda state: state.global_step >= stop_at] if stop_at else []
    trainer = Trainer(model, loss=losses.CSRLoss(model), train_data=ROWS, config=config, callbacks=callbacks)
    trainer.train(resume_from="latest" if resume else None)
    return {key: value.clone() for key, value in model.state_dict().items()}


def test_interrupted_then_resumed_csr_run_ends_with_the_same_weights_and_latent_statistics(
    csr_dir: Path, tmp_path: Path
) -> None:
    expected = _train_csr(csr_dir, tmp_path / "full")
    stopped = _train_csr(csr_dir, tmp_path / "split", stop_at=2)
    found = _train_csr(csr_dir, tmp_path / "split", resume=True)
    statistics = [key for key in expected if key.endswith("stats_last_nonzero")]
    assert statistics and not torch.equal(stopped[statistics[0]], expected[statistics[0]])
    for key, value in expected.items():
        assert torch.equal(value, found[key]), key
