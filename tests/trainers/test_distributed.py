"""Distributed training on two CPU processes (gloo), started with torchrun, against a single process.

The module is also the worker: the fixture runs ``python -m torch.distributed.run --nproc_per_node 2`` on
this file, each rank writes what it computed to ``rank<r>.pt``, and the tests compare that with the same
computations done here in one process on the global batch. Dropout is switched off so that one process
and two can compute the same thing; what remains are float rounding differences (other matrix shapes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from trainers import Trainer, TrainerState, TrainingConfig, distributed
from trainers.checkpoint import CHECKPOINTS_DIR, STATE_FILE, TRAINER_STATE_FILE, checkpoint_name
from trainers.losses import MultipleNegativesRankingLoss
from trainers.samplers import shard

ROOT = Path(__file__).resolve().parents[2]
WORLD = 2
LOCAL_BATCH = 4  # rows per rank; the single process trains on batches of LOCAL_BATCH * WORLD
STEPS = 6  # 35 rows: 5 batches of 8, the last of 3 rows (2 + 1 on the two ranks), then into epoch 2
STOP = 3  # the interrupted run stops (and checkpoints) here, the resumed one goes on to STEPS

ANCHORS = ["a man plays guitar", "the dog runs", "a woman reads a book", "two people dance", "the cat sleeps",
           "a child eats bread", "a girl sings a song"]  # fmt: skip
POSITIVES = ["a man is playing a guitar", "a dog is running in the park", "a woman is reading", "people dancing",
             "a cat is sleeping on a chair", "a boy eats an apple", "the girl sings"]  # fmt: skip
NEGATIVES = ["a man plays piano", "the dog sleeps", "a woman writes a letter", "two people swim",
             "the cat eats food", "a child runs", "a girl reads a book"]  # fmt: skip
LOSS_CASES: list[tuple[dict[str, Any], tuple[list[str], ...]]] = [
    ({}, (ANCHORS, POSITIVES, NEGATIVES)),
    ({"directions": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")}, (ANCHORS, POSITIVES, NEGATIVES)),
    ({"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"}, (ANCHORS, POSITIVES)),
]


def _load(model_dir: Path) -> SentenceEncoder:
    model = SentenceEncoder(model_dir, device="cpu")
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def _rows() -> list[dict[str, str]]:
    subjects = ["a man", "a woman", "a child", "the dog", "the cat", "two people", "a boy", "a girl"]
    actions = ["plays guitar", "eats bread", "runs in the park", "sits on a chair", "reads a book", "sings a song"]
    return [
        {"anchor": f"{subjects[i % 8]} {actions[i % 6]}", "positive": f"{subjects[(i + 1) % 8]} is {actions[i % 6]}"}
        for i in range(35)
    ]


class _Norm:
    """Mean embedding norm of two texts; counts its calls (rank 0 alone must evaluate)."""

    primary_metric = "mean_norm"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, model: Any) -> dict[str, float]:
        self.calls += 1
        embeddings = model.encode(["a man plays guitar", "the dog runs"], convert_to="torch")
        return {"mean_norm": float(torch.linalg.norm(embeddings, dim=1).mean())}


def _train(
    model_dir: Path,
    out: Path,
    *,
    batch_size: int,
    stop_at: int | None = None,
    resume: bool = False,
    accumulation: int = 1,
) -> dict[str, Any]:
    """Train with gathered MNRL; returns the final and the last step's weights, metrics and evaluator calls."""
    model = _load(model_dir)
    evaluator = _Norm()
    last: dict[str, Tensor] = {}

    def snapshot(state: TrainerState) -> bool:
        if state.global_step == STEPS:
            last.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        # Only rank 0 asks to stop: every rank must stop with it.
        return stop_at is not None and state.global_step == stop_at and distributed.rank() == 0

    config = TrainingConfig(
        output_dir=str(out),
        batch_size=batch_size,
        max_steps=STEPS,
        learning_rate=1e-3,
        warmup_steps=1,
        seed=7,
        logging_steps=1,
        eval_steps=2,
        save_steps=STOP,
        gradient_accumulation_steps=accumulation,
        show_progress=False,
    )
    trainer = Trainer(
        model,
        loss=MultipleNegativesRankingLoss(model, gather_across_devices=True),
        train_data=_rows(),
        config=config,
        evaluator=evaluator,
        callbacks=[snapshot],
    )
    metrics = trainer.train(resume_from="latest" if resume else None)
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"final": final, "last": last, "metrics": metrics, "evaluator_calls": evaluator.calls, "out": str(out)}


def _loss_step(model_dir: Path, kwargs: dict[str, Any], columns: tuple[list[str], ...]) -> dict[str, Any]:
    """One gathered MNRL forward and backward on this rank's slice of the 7-row batch (4 + 3 rows on 2 ranks).

    Returns the loss and the parameter gradients, both averaged over ranks as DistributedDataParallel does.
    """
    model = _load(model_dir)
    loss = MultipleNegativesRankingLoss(model, gather_across_devices=True, **kwargs)
    ((_, own),) = shard([("batch", list(range(len(columns[0]))))], distributed.rank(), distributed.world_size())
    value = loss([model.tokenize([column[i] for i in own]) for column in columns], None)
    value.backward()
    world = distributed.world_size()
    gradients = {
        name: distributed.all_reduce_sum(p.grad if p.grad is not None else torch.zeros_like(p)) / world
        for name, p in model.named_parameters()
    }
    return {"loss": float(distributed.all_reduce_sum(value.detach()).item()) / world, "gradients": gradients}


def _worker(model_dir: Path, out: Path) -> None:
    torch.set_num_threads(1)
    rank = distributed.world_info().rank
    results: dict[str, Any] = {}
    # The trainer starts the process group from torchrun's environment, and destroys the group it started.
    results["full"] = _train(model_dir, out / "full", batch_size=LOCAL_BATCH)
    results["group_alive_after_train"] = distributed.is_initialized()
    # Groups started one after another (as by two train() calls) must not meet the earlier groups' stale keys.
    results["restarted_sums"] = []
    for _ in range(3):
        started = distributed.init_from_env(torch.device("cpu"))
        results["restarted_sums"].append(float(distributed.all_reduce_sum(torch.tensor(rank + 1.0)).item()))
        distributed.destroy(started)
    # A group started by the caller is used, and left running.
    created = distributed.init_from_env(torch.device("cpu"))
    results["stopped"] = _train(model_dir, out / "resumed", batch_size=LOCAL_BATCH, stop_at=STOP)
    results["resumed"] = _train(model_dir, out / "resumed", batch_size=LOCAL_BATCH, resume=True)
    # Gradient accumulation: DDP must average the gradients once per optimizer step, after the last batch.
    results["accumulated"] = _train(model_dir, out / "accumulated", batch_size=LOCAL_BATCH // 2, accumulation=2)
    results["group_kept"] = distributed.is_initialized()
    results["losses"] = [_loss_step(model_dir, kwargs, columns) for kwargs, columns in LOSS_CASES]
    distributed.destroy(created)
    torch.save(results, out / f"rank{rank}.pt")


# ---- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What each of the two torchrun ranks computed."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1"]
    command += ["--nproc_per_node", str(WORLD), __file__, str(tiny_model_dir), str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.fail(f"torchrun failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return [{**torch.load(out / f"rank{r}.pt", weights_only=True), "out": out} for r in range(WORLD)]


@pytest.fixture(scope="module")
def single(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One process on batches of LOCAL_BATCH * WORLD rows."""
    torch.set_num_threads(1)
    return _train(tiny_model_dir, tmp_path_factory.mktemp("single"), batch_size=LOCAL_BATCH * WORLD)


def _assert_close(ours: dict[str, Tensor], theirs: dict[str, Tensor], *, tolerance: float, floor: float) -> None:
    """Each tensor within ``tolerance`` times its largest magnitude, or times ``floor`` if that is larger
    (sums over many tokens round differently in other shapes)."""
    assert ours.keys() == theirs.keys()
    for name in ours:
        scale = max(float(theirs[name].abs().max()), floor)
        assert ours[name].shape == theirs[name].shape, name
        difference = float((ours[name] - theirs[name]).abs().max())
        assert difference <= tolerance * scale, f"{name}: differs by {difference:.3g} (allowed {tolerance * scale:.3g})"


@pytest.mark.parametrize("case", range(len(LOSS_CASES)), ids=["hard-negative", "all-directions", "symmetric"])
def test_gathered_loss_and_gradients_equal_one_process_on_the_global_batch(
    ranks: list[dict[str, Any]], tiny_model_dir: Path, case: int
) -> None:
    kwargs, columns = LOSS_CASES[case]
    alone = _loss_step(tiny_model_dir, kwargs, columns)  # no process group here: the whole batch, no gathering
    for result in ranks:
        together = result["losses"][case]
        assert together["loss"] == pytest.approx(alone["loss"], rel=1e-5, abs=1e-6)
        _assert_close(together["gradients"], alone["gradients"], tolerance=1e-4, floor=1e-3)
    assert any(float(g.abs().max()) > 0 for g in alone["gradients"].values())


def test_weights_are_identical_on_both_ranks_and_equal_one_process(
    ranks: list[dict[str, Any]], single: dict[str, Any], tiny_model_dir: Path
) -> None:
    first, second = ranks
    for key in ("last", "final"):
        assert first["full"][key].keys() == second["full"][key].keys()
        for name, tensor in first["full"][key].items():
            assert torch.equal(tensor, second["full"][key][name]), f"{key} {name} differs between the ranks"
        _assert_close(first["full"][key], single[key], tolerance=1e-5, floor=1.0)
    start = _load(tiny_model_dir).state_dict()
    assert any(not torch.equal(start[k], first["full"]["last"][k]) for k in start)  # training moved the weights


def test_gradient_accumulation_averages_over_ranks_once_per_step(
    ranks: list[dict[str, Any]], tiny_model_dir: Path, tmp_path: Path
) -> None:
    alone = _train(tiny_model_dir, tmp_path / "alone", batch_size=LOCAL_BATCH, accumulation=2)
    first, second = (result["accumulated"]["last"] for result in ranks)
    assert first and first.keys() == second.keys()  # the snapshot at STEPS was taken
    assert all(torch.equal(first[name], second[name]) for name in first)
    _assert_close(first, alone["last"], tolerance=1e-5, floor=1.0)


def test_rank_zero_alone_evaluates_and_writes_and_every_rank_gets_its_metrics(
    ranks: list[dict[str, Any]], single: dict[str, Any]
) -> None:
    first, second = ranks
    assert first["full"]["evaluator_calls"] == single["evaluator_calls"] > 0
    assert second["full"]["evaluator_calls"] == 0
    timing = {"train_runtime_s", "train_rows_per_second"}  # each rank's own clock
    assert {k: v for k, v in first["full"]["metrics"].items() if k not in timing} == {
        k: v for k, v in second["full"]["metrics"].items() if k not in timing
    }
    assert first["full"]["metrics"]["mean_norm"] == pytest.approx(single["metrics"]["mean_norm"], rel=1e-4)
    assert first["full"]["metrics"]["train_loss"] == pytest.approx(single["metrics"]["train_loss"], rel=1e-4)

    out = first["out"] / "full"
    records = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, STEPS + 1))  # once each: rank 1 wrote none
    assert (out / "modules.json").is_file() and (out / "README.md").is_file()


def test_logged_losses_are_the_global_batch_means(ranks: list[dict[str, Any]], single: dict[str, Any]) -> None:
    def logged(folder: str) -> list[float]:
        records = [json.loads(line) for line in (Path(folder) / "training_log.jsonl").read_text().splitlines()]
        return [r["loss"] for r in records if "loss" in r]

    assert len(logged(single["out"])) == STEPS
    assert logged(ranks[0]["full"]["out"]) == pytest.approx(logged(single["out"]), rel=1e-4)


def test_a_resumed_distributed_run_ends_where_the_uninterrupted_one_does(ranks: list[dict[str, Any]]) -> None:
    for result in ranks:
        assert result["stopped"]["metrics"]["train_steps"] == STOP  # rank 0's callback stopped rank 1 too
        assert result["resumed"]["metrics"]["train_steps"] == STEPS
        _assert_close(result["resumed"]["final"], result["full"]["final"], tolerance=1e-6, floor=1.0)
    state = torch.load(
        ranks[0]["out"] / "resumed" / CHECKPOINTS_DIR / checkpoint_name(STOP) / STATE_FILE, weights_only=True
    )
    assert len(state["rng_per_rank"]) == WORLD


def test_the_trainer_destroys_only_the_process_group_it_started(ranks: list[dict[str, Any]]) -> None:
    for result in ranks:
        assert result["group_alive_after_train"] is False
        assert result["group_kept"] is True
        assert result["restarted_sums"] == [3.0, 3.0, 3.0]  # 1 + 2 from the two ranks, each time


def test_shard_splits_each_global_batch_into_contiguous_slices() -> None:
    batches = [("a", list(range(8))), ("b", [10, 11, 12]), ("a", [20])]
    parts = [shard(batches, rank, 2) for rank in range(2)]
    assert parts[0] == [("a", [0, 1, 2, 3]), ("b", [10, 11])]
    assert parts[1] == [("a", [4, 5, 6, 7]), ("b", [12])]  # the one-row batch is left out on both ranks
    assert shard(batches, 0, 1) == batches


def test_world_info_reads_the_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.world_info() == distributed.WorldInfo(rank=3, world_size=4, local_rank=1)
    assert not distributed.world_info().is_main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match="RANK=4 and WORLD_SIZE=4"):
        distributed.world_info()
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ConfigError, match="RANK='one' must be an integer"):
        distributed.world_info()


def test_several_processes_without_a_rendezvous_address_name_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node"):
        distributed.init_from_env(torch.device("cpu"))
    assert not distributed.is_initialized()


def test_a_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.init_from_env(torch.device("cpu")) is False
    tensor = torch.ones(3, 2, requires_grad=True)
    gathered, offset = distributed.gather_with_grad(tensor)
    assert gathered is tensor and offset == 0


def test_resuming_under_another_world_size_is_an_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    _train(tiny_model_dir, tmp_path / "out", batch_size=LOCAL_BATCH, stop_at=STOP)
    state_file = tmp_path / "out" / CHECKPOINTS_DIR / checkpoint_name(STOP) / TRAINER_STATE_FILE
    state = json.loads(state_file.read_text())
    assert state["world_size"] == 1
    state_file.write_text(json.dumps({**state, "world_size": WORLD}))
    with pytest.raises(ConfigError, match="world_size: checkpoint 2 vs now 1"):
        _train(tiny_model_dir, tmp_path / "out", batch_size=LOCAL_BATCH, resume=True)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), Path(sys.argv[2]))
