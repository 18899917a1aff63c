from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError, DataError
from tests.trainers.conftest import NormEvaluator, make_pair_rows
from trainers import Trainer, TrainerState, TrainingConfig, losses
from trainers.checkpoint import BEST_DIR, CHECKPOINTS_DIR, list_checkpoints


def _config(out: Path, **settings: Any) -> TrainingConfig:
    base: dict[str, Any] = {
        "epochs": 1,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "output_dir": str(out),
        "show_progress": False,
    }
    return TrainingConfig(**{**base, **settings})


def _weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_train_updates_the_model_and_saves_folder_log_and_card(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    before = _weights(tiny_encoder)
    trainer = Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(40),
        config=_config(tmp_path / "out", warmup_ratio=0.1, logging_steps=2),
    )
    metrics = trainer.train()

    assert metrics["train_steps"] == 5  # 40 rows / batch 8
    assert torch.isfinite(torch.tensor(metrics["train_loss"]))
    after = tiny_encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    out = tmp_path / "out"
    assert (out / "modules.json").is_file() and (out / "training_config.json").is_file()
    records = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [2, 4, 5]
    assert all(r["learning_rate"] > 0 for r in records if "loss" in r)
    card = (out / "README.md").read_text()
    assert "CosineSimilarityLoss" in card and "| train | 40 |" in card and '"batch_size": 8' in card

    reloaded = SentenceEncoder(out, device="cpu")
    texts = ["a man plays guitar", "the dog runs in the park"]
    assert torch.allclose(
        reloaded.encode(texts, convert_to="torch"), tiny_encoder.encode(texts, convert_to="torch"), atol=1e-6
    )


def test_saved_model_loads_in_the_reference_library(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(16),
        config=_config(tmp_path / "out"),
    ).train()
    reference = sentence_transformers.SentenceTransformer(str(tmp_path / "out"), device="cpu")
    texts = ["a man plays guitar", "two people sing a song"]
    ours = tiny_encoder.encode(texts)
    theirs = reference.encode(texts)
    assert ours.shape == theirs.shape
    assert abs(ours - theirs).max() < 1e-5


def _run(
    model_dir: Path, out: Path, datasets: str, *, stop_at: int | None = None, resume: bool = False
) -> dict[str, Tensor]:
    """Train a fresh copy of the tiny model; optionally stop after ``stop_at`` steps or resume from the latest
    checkpoint. Returns the trained weights (with the classifier of the SoftmaxLoss, when there is one)."""
    model = SentenceEncoder(model_dir, device="cpu")
    torch.manual_seed(0)  # the SoftmaxLoss classifier is drawn at construction
    if datasets == "one":
        loss: Any = losses.CosineSimilarityLoss(model)
        data: Any = make_pair_rows(40)
        settings: dict[str, Any] = {}
    else:
        nli = [{**row, "label": i % 3} for i, row in enumerate(make_pair_rows(24))]
        loss = {"sts": losses.CosineSimilarityLoss(model), "nli": losses.SoftmaxLoss(model, num_labels=3)}
        data = {"sts": make_pair_rows(40), "nli": nli}
        settings = {"gradient_accumulation_steps": 2, "batch_sampler": {"sts": "no_duplicates", "nli": "random"}}
    callbacks = [lambda state: state.global_step >= stop_at] if stop_at else []
    config = _config(out, epochs=2, warmup_ratio=0.2, save_steps=3, logging_steps=2, **settings)
    trainer = Trainer(model, loss=loss, train_data=data, config=config, callbacks=callbacks)
    trainer.train(resume_from="latest" if resume else None)
    weights = _weights(model)
    if datasets != "one":
        weights.update({f"softmax.{k}": v.clone() for k, v in loss["nli"].classifier.state_dict().items()})
    return weights


@pytest.mark.parametrize("datasets", ["one", "two"])
def test_interrupted_then_resumed_run_ends_with_the_same_weights(
    tiny_model_dir: Path, tmp_path: Path, datasets: str
) -> None:
    expected = _run(tiny_model_dir, tmp_path / "full", datasets)
    stopped = _run(tiny_model_dir, tmp_path / "split", datasets, stop_at=3)
    found = _run(tiny_model_dir, tmp_path / "split", datasets, resume=True)

    assert set(expected) == set(found)
    for key in expected:
        assert torch.equal(expected[key], found[key]), key
    assert any(not torch.equal(stopped[k], expected[k]) for k in expected)  # the resumed run did train on
    full_log = (tmp_path / "full" / "training_log.jsonl").read_text().splitlines()
    split_log = (tmp_path / "split" / "training_log.jsonl").read_text().splitlines()
    losses_logged = [
        [json.loads(line).get("loss") for line in log if '"loss"' in line] for log in (full_log, split_log)
    ]
    assert losses_logged[0] == losses_logged[1]
    assert len(list_checkpoints(tmp_path / "split" / CHECKPOINTS_DIR)) >= 2


def test_resume_under_another_schedule_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    _run(tiny_model_dir, tmp_path / "out", "one", stop_at=3)
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    trainer = Trainer(
        model,
        loss=losses.CosineSimilarityLoss(model),
        train_data=make_pair_rows(40),
        config=_config(tmp_path / "out", epochs=2, batch_size=4, save_steps=3),
    )
    with pytest.raises(ConfigError, match="batch_size"):
        trainer.train(resume_from="latest")
    with pytest.raises(ConfigError, match="not a checkpoint folder"):
        trainer.train(resume_from=str(tmp_path / "nowhere"))


class ScriptedEvaluator:
    """Returns the given scores in turn, so the best step is known in advance."""

    primary_metric = "score"
    greater_is_better = True

    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)

    def __call__(self, model: Any) -> dict[str, float]:
        return {"score": self.scores.pop(0)}


def test_best_model_is_restored_at_the_end(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    snapshots: dict[int, dict[str, Tensor]] = {}

    def snapshot(state: TrainerState) -> None:
        snapshots[state.global_step] = _weights(tiny_encoder)

    trainer = Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(40),
        config=_config(tmp_path / "out", eval_steps=1),
        evaluator=ScriptedEvaluator([1.0, 3.0, 2.0, 2.5, 0.5]),
        callbacks=[snapshot],
    )
    metrics = trainer.train()
    assert metrics["score"] == 3.0
    assert trainer.state.best_step == 2
    assert (tmp_path / "out" / CHECKPOINTS_DIR / BEST_DIR / "model.safetensors").is_file()
    for key, value in tiny_encoder.state_dict().items():
        assert torch.equal(value, snapshots[2][key]), key
    assert "| score | 3 |" in (tmp_path / "out" / "README.md").read_text()


def test_early_stopping_stops_after_patience_evaluations(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    trainer = Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(80),
        config=_config(tmp_path / "out", eval_steps=1, early_stopping_patience=2),
        evaluator=ScriptedEvaluator([1.0, 3.0, 2.0, 2.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
    )
    metrics = trainer.train()
    assert trainer.state.global_step == 4 and metrics["train_steps"] == 4
    evals = [json.loads(line) for line in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()]
    assert [r["eval"]["score"] for r in evals if "eval" in r] == [1.0, 3.0, 2.0, 2.5]


def test_a_real_evaluator_runs_on_schedule_and_a_missing_metric_is_an_error(
    tiny_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    evaluator = NormEvaluator()
    Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(40),
        config=_config(tmp_path / "a", eval_steps=2, load_best_model_at_end=False),
        evaluator=evaluator,
    ).train()
    assert evaluator.calls == 3  # steps 2 and 4, then the end (step 5)
    trainer = Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(16),
        config=_config(tmp_path / "b", eval_steps=1, metric_for_best_model="accuracy"),
        evaluator=NormEvaluator(),
    )
    with pytest.raises(ConfigError, match="accuracy"):
        trainer.train()


class RecordingLoss(nn.Module):
    """A user-written loss: checks the features it gets and returns a loss that depends on the model."""

    def __init__(self, model: SentenceEncoder, *, takes_texts: bool = False) -> None:
        super().__init__()
        self.model = model
        self.takes_texts = takes_texts
        self.seen: list[Any] = []

    def forward(self, features: list[Any], labels: Tensor | None) -> Tensor:
        self.seen.append(features)
        if self.takes_texts:
            features = [self.model.tokenize(texts) for texts in features]
        embeddings = [self.model(dict(f))["sentence_embedding"] for f in features]
        return sum((e**2).mean() for e in embeddings)  # type: ignore[return-value]


def test_each_column_is_tokenized_once_and_padded_to_the_batch_longest(
    tiny_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    rows = [{"a": "a man", "b": "a man plays guitar in the park with a dog"}, {"a": "the cat sits", "b": "a boy"}]
    loss = RecordingLoss(tiny_encoder)
    Trainer(tiny_encoder, loss=loss, train_data=rows, config=_config(tmp_path / "out", batch_size=2)).train()
    (features,) = loss.seen
    assert len(features) == 2
    widths = [f["input_ids"].shape for f in features]
    expected = [max(len(tiny_encoder.transformer.token_ids([r[c]])[0]) for r in rows) for c in ("a", "b")]
    assert [w[1] for w in widths] == expected and all(w[0] == 2 for w in widths)
    assert expected[1] < tiny_encoder.max_seq_length


def test_group_by_length_batches_rows_of_similar_token_length(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    short = [{"a": "a man", "b": "a dog"}] * 4
    long = [{"a": "a man plays guitar in the park", "b": "a dog runs in the park with a boy"}] * 4
    rows = [r for pair in zip(short, long) for r in pair]
    loss = RecordingLoss(tiny_encoder)
    config = _config(tmp_path / "out", batch_size=4, group_by_length=True)
    Trainer(tiny_encoder, loss=loss, train_data=rows, config=config).train()
    widths = sorted(features[1]["input_ids"].shape[1] for features in loss.seen)
    assert widths == [4, 11]  # each batch holds rows of one length only: no padding


def test_losses_that_take_texts_get_the_raw_columns(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    loss = RecordingLoss(tiny_encoder, takes_texts=True)
    Trainer(
        tiny_encoder, loss=loss, train_data=make_pair_rows(4), config=_config(tmp_path / "out", batch_size=4)
    ).train()
    (features,) = loss.seen
    assert len(features) == 2 and all(isinstance(t, str) for column in features for t in column)


def test_bf16_trains_on_cpu_and_fp16_needs_cuda(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    metrics = Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(16),
        config=_config(tmp_path / "bf16", precision="bf16", scheduler="cosine", max_grad_norm=None),
    ).train()
    assert torch.isfinite(torch.tensor(metrics["train_loss"]))
    if not torch.cuda.is_available():
        trainer = Trainer(
            tiny_encoder,
            loss=losses.CosineSimilarityLoss(tiny_encoder),
            train_data=make_pair_rows(16),
            config=_config(tmp_path / "fp16", precision="fp16"),
        )
        with pytest.raises(ConfigError, match="CUDA"):
            trainer.train()


def test_max_steps_cycles_epochs_and_sets_the_schedule(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    trainer = Trainer(
        tiny_encoder,
        loss=losses.CosineSimilarityLoss(tiny_encoder),
        train_data=make_pair_rows(16),
        config=_config(tmp_path / "out", max_steps=5, logging_steps=1),
    )
    metrics = trainer.train()
    assert metrics["train_steps"] == 5 and trainer.state.epoch == 2
    lrs = [
        json.loads(line)["learning_rate"]
        for line in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()
        if '"loss"' in line
    ]
    assert lrs == pytest.approx([1e-3, 8e-4, 6e-4, 4e-4, 2e-4])  # the rate each step used: linear decay to 0


def test_construction_checks_data_and_losses(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"s1": "a", "s2": "b", "label": 1}\n{"s1": "a", "label": 1}\n', encoding="utf-8")
    loss = losses.CosineSimilarityLoss(tiny_encoder)
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing column 's2'"):
        Trainer(tiny_encoder, loss=loss, train_data=str(bad), config=_config(tmp_path / "out"))
    with pytest.raises(ConfigError, match="keyed by"):
        Trainer(tiny_encoder, loss={"x": loss}, train_data={"y": make_pair_rows(4)}, config=_config(tmp_path / "out"))
    with pytest.raises(ConfigError, match="primary_metric"):
        Trainer(tiny_encoder, loss=loss, train_data=make_pair_rows(4), evaluator=lambda m: {})  # type: ignore[arg-type]


def test_num_threads_holds_for_the_run_and_the_callers_count_is_restored(
    tiny_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    seen: list[int] = []

    class RecordingLoss(losses.CosineSimilarityLoss):
        def forward(self, features: list[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
            seen.append(torch.get_num_threads())
            return super().forward(features, labels)

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trainer = Trainer(
            tiny_encoder,
            loss=RecordingLoss(tiny_encoder),
            train_data=make_pair_rows(16),
            config=_config(tmp_path / "out", num_threads=1),
        )
        trainer.train()
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2  # before: the run left the whole process at 1 thread
    finally:
        torch.set_num_threads(previous)
