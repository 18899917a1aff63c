"""The training loop: a plain PyTorch loop that reads top to bottom.

for each epoch: build the epoch's batches (samplers seeded by seed + epoch) → for each batch: look up its
texts, tokenize each text column in one call (padded to the batch's longest text) → loss(features, labels)
→ backward → every ``gradient_accumulation_steps`` batches: clip, optimizer step, scheduler step →
log / evaluate / checkpoint / callbacks. At the end: restore the best model, save the model with its card.

Started by ``torchrun`` (several processes), the same loop runs on every rank with DistributedDataParallel:
each rank trains on its slice of every global batch of ``batch_size * world_size`` rows, the gradients are
averaged over ranks, rank 0 alone evaluates and writes files, and every rank takes the decisions (best model,
early stopping) from rank 0's metrics.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sbert_plugins.device import intra_op_threads
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules import Router
from trainers import checkpoint as ckpt
from trainers import distributed
from trainers.config import TrainingConfig
from trainers.data import TrainingDataset, load_datasets
from trainers.losses._base import features_to_device
from trainers.model_card import write_model_card
from trainers.optim import build_optimizer, build_scheduler, trainable_parameters
from trainers.samplers import Batch, BatchSampler, interleave, make_sampler, shard
from trainers.state import Callback, Evaluator, TrainerState
from trainers.training_log import JsonlLog

logger = logging.getLogger(__name__)

LOG_FILE = "training_log.jsonl"


class Trainer:
    """Trains a model on one or several datasets, each with its loss.

    Args:
        model: a :class:`~sbert_plugins.SentenceEncoder` (or any ``nn.Module`` with ``tokenize`` and ``save``;
            a cross-encoder works with losses that set ``takes_texts = True``).
        loss: a loss module called as ``loss(features, labels)``; or a dict of them keyed by dataset name.
        train_data: a list of dicts (text columns in order, then ``"label"``), a ``.jsonl``/``.csv``/``.tsv`` path,
            a :class:`~trainers.data.TrainingDataset`, or a dict of any of these keyed by dataset name.
        config: the :class:`TrainingConfig` (default: all defaults).
        evaluator: one evaluator or a list, run every ``config.eval_steps`` steps and at the end.
        callbacks: functions called with the :class:`TrainerState` after each optimizer step; returning True
            stops training (the model is still saved). In a distributed run, True on any rank stops every rank.

    Distributed training: run the same script with ``torchrun --nproc_per_node N script.py``. The trainer
    reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, starts the process group (``nccl`` on CUDA, ``gloo`` on CPU)
    unless one exists, trains on GPU ``LOCAL_RANK`` when the model is on CUDA, and treats ``batch_size`` as
    rows per process (the global batch is ``batch_size * world_size``).

    Raises:
        DataError: a training row is malformed (the message names file and line); raised here, before training.
        ConfigError: the losses and datasets do not match, or the evaluators lack ``primary_metric``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        loss: nn.Module | Mapping[str, nn.Module],
        train_data: Any,
        config: TrainingConfig | None = None,
        evaluator: Evaluator | Sequence[Evaluator] | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.model = model
        self.config = config if config is not None else TrainingConfig()
        self.datasets: dict[str, TrainingDataset] = load_datasets(train_data)
        self.losses = _match_losses(loss, self.datasets)
        if evaluator is None:
            self.evaluators: list[Evaluator] = []
        elif isinstance(evaluator, Sequence):
            self.evaluators = list(evaluator)
        else:
            self.evaluators = [evaluator]
        for ev in self.evaluators:
            if not callable(ev) or not isinstance(getattr(ev, "primary_metric", None), str):
                raise ConfigError(f"evaluator {ev!r} must be callable as evaluator(model) and have a primary_metric")
        self.callbacks = list(callbacks)
        tokenize = getattr(model, "tokenize", None)
        if tokenize is None and not all(getattr(loss, "takes_texts", False) for loss in self.losses.values()):
            raise ConfigError(f"{type(model).__name__} has no tokenize(texts) method; use losses that take texts")
        self._tokenize: Callable[[list[str]], dict[str, Tensor]] = tokenize  # type: ignore[assignment]
        _check_router_mapping(model, self.config.router_mapping, self.datasets)
        self.output_dir = Path(self.config.output_dir)
        self.state = TrainerState()
        self.world = distributed.world_info()
        self.samplers: dict[str, BatchSampler] = {}
        for name, dataset in self.datasets.items():
            sampler = self.config.sampler_for(name)
            grouped = self.config.group_by_length and sampler == "random"
            self.samplers[name] = make_sampler(
                sampler,
                dataset,
                self.config.batch_size * self.world.world_size,
                samples_per_label=self.config.samples_per_label,
                drop_last=self.config.drop_last,
                lengths=self._row_lengths(dataset, self.losses[name]) if grouped else None,
            )

    # ---- the epoch plan ---------------------------------------------------------------------------

    def _row_lengths(self, dataset: TrainingDataset, loss: nn.Module) -> list[int]:
        """Each row's longest text, in tokens when the model tokenizes (else in characters)."""
        if getattr(loss, "takes_texts", False) or self._tokenize is None:
            return [max(len(t) for t in row) for row in zip(*dataset.texts)]
        longest = [0] * len(dataset)
        for column in dataset.texts:
            for start in range(0, len(column), 1024):
                mask = self._tokenize(column[start : start + 1024])["attention_mask"]
                for offset, count in enumerate(mask.sum(dim=1).tolist()):
                    longest[start + offset] = max(longest[start + offset], int(count))
        return longest

    def epoch_batches(self, epoch: int) -> list[tuple[str, Batch]]:
        """This process's batches of ``epoch`` in order, as (dataset name, row indices); the same for the same
        seed and epoch. In a distributed run, each is this rank's slice of a global batch."""
        generator = torch.Generator().manual_seed(self.config.seed + epoch)
        per_dataset = {name: sampler.batches(generator) for name, sampler in self.samplers.items()}
        batches = interleave(per_dataset, self.config.multi_dataset_sampling, generator)
        return shard(batches, self.world.rank, self.world.world_size)

    def _steps_in(self, batches: int) -> int:
        return math.ceil(batches / self.config.gradient_accumulation_steps)

    def total_steps(self) -> int:
        """Optimizer steps of the whole run (``max_steps``, or the sum over epochs)."""
        if self.config.max_steps is not None:
            return self.config.max_steps
        return sum(self._steps_in(len(self.epoch_batches(e))) for e in range(self.config.epochs))

    # ---- training ---------------------------------------------------------------------------------

    def train(self, *, resume_from: str | Path | None = None) -> dict[str, float]:
        """Run training; returns the final metrics (train loss, steps, throughput, and the evaluation results).

        Args:
            resume_from: a checkpoint folder or ``"latest"`` (overrides ``config.resume_from``).

        Raises:
            ConfigError: fp16 without CUDA, a checkpoint written under a different schedule, a missing metric.
        """
        cfg = self.config
        device = distributed.training_device(_device_of(self.model), self.world)
        if cfg.precision == "fp16" and device.type != "cuda":
            raise ConfigError("precision='fp16' needs a CUDA device; use 'bf16' on CPU")
        created = distributed.init_from_env(device)
        try:
            # The process-wide thread count is set for the run only: the caller's is restored afterwards.
            with intra_op_threads(cfg.num_threads):
                metrics = self._train(device, resume_from)
        except BaseException:
            distributed.destroy(created, wait=False)
            raise
        distributed.destroy(created)
        return metrics

    def _train(self, device: torch.device, resume_from: str | Path | None) -> dict[str, float]:
        cfg, world = self.config, self.world
        _seed_everything(cfg.seed + world.rank)  # dropout differs between ranks as between rows of one batch
        self.model.to(device)
        for loss in self.losses.values():
            loss.to(device)

        total = self.total_steps()
        modules: list[nn.Module] = [self.model, *self.losses.values()]
        parameters = [p for _, p in trainable_parameters(modules)]
        optimizer = build_optimizer(trainable_parameters(modules), cfg)
        scheduler = build_scheduler(optimizer, cfg, total)
        scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        self.state = TrainerState(total_steps=total)

        resume = resume_from if resume_from is not None else cfg.resume_from
        if resume is not None:
            self._resume_first_intact(
                ckpt.resume_candidates(str(resume), self.output_dir), optimizer, scheduler, scaler
            )
        keep_until = self.state.global_step if resume is not None else 0
        log = JsonlLog(self.output_dir / LOG_FILE, keep_until=keep_until) if world.is_main else _NoLog()
        ddp = distributed.wrap_for_training(self.model, self.losses, device) if world.distributed else None
        state = self.state
        start_step = state.global_step
        rows_seen = 0
        started = time.perf_counter()

        for module in modules:
            module.train()
        show = cfg.show_progress and world.is_main
        bar = tqdm(total=total, initial=state.global_step, desc="Training", unit="step", disable=not show)
        window_loss = torch.zeros((), device=device)
        window_batches = 0
        accumulation = cfg.gradient_accumulation_steps
        epoch = state.epoch
        while state.global_step < total and not state.should_stop:
            batches = self.epoch_batches(epoch)
            position = state.batch_in_epoch if epoch == state.epoch else 0
            while position < len(batches) and state.global_step < total and not state.should_stop:
                # One optimizer step: up to `accumulation` batches, fewer at the end of an epoch.
                group = batches[position : position + accumulation]
                for index, (name, rows) in enumerate(group):
                    # DDP averages the gradients over ranks only after the group's last batch.
                    sync = ddp is None or index == len(group) - 1
                    with contextlib.nullcontext() if sync or ddp is None else ddp.no_sync():
                        features, labels = self._collate(name, rows, device)
                        with self._autocast(device):
                            loss_value = ddp(name, features, labels) if ddp else self.losses[name](features, labels)
                        scaled = loss_value / len(group)
                        (scaler.scale(scaled) if scaler is not None else scaled).backward()
                    window_loss += loss_value.detach().float()
                    window_batches += 1
                    rows_seen += len(rows)
                lr = self._optimizer_step(optimizer, scheduler, scaler, parameters)
                position += len(group)
                state.global_step += 1
                state.epoch, state.batch_in_epoch = epoch, position
                bar.update(1)

                if state.global_step % cfg.logging_steps == 0 or state.global_step == total:
                    mean_loss = self._over_ranks(window_loss) / max(window_batches, 1)
                    state.loss_sum += mean_loss * window_batches
                    state.loss_count += window_batches
                    window_loss.zero_()
                    window_batches = 0
                    log.write({"step": state.global_step, "epoch": epoch, "loss": mean_loss, "learning_rate": lr})
                    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", refresh=False)
                if self.evaluators and cfg.eval_steps and state.global_step % cfg.eval_steps == 0:
                    self._evaluate(log)
                if cfg.save_steps and state.global_step % cfg.save_steps == 0:
                    # Fold the loss window into the totals so that a resumed run logs the same means.
                    state.loss_sum += self._over_ranks(window_loss)
                    state.loss_count += window_batches
                    window_loss.zero_()
                    window_batches = 0
                    self._save_checkpoint(optimizer, scheduler, scaler)
                for callback in self.callbacks:
                    if callback(state):
                        state.should_stop = True
                if self.callbacks and world.distributed:
                    state.should_stop = distributed.any_rank(state.should_stop, device)
            if position >= len(batches):
                epoch += 1
                state.epoch, state.batch_in_epoch = epoch, 0
        bar.close()
        if window_batches:  # the steps after the last logging step
            state.loss_sum += self._over_ranks(window_loss)
            state.loss_count += window_batches
        runtime = time.perf_counter() - started
        rows_seen = int(distributed.all_reduce_sum(torch.tensor(rows_seen, device=device)).item())

        if self.evaluators and state.last_eval_step != state.global_step:
            self._evaluate(log)
        if self.evaluators and cfg.load_best_model_at_end and state.best_step is not None:
            self._restore_best()
        metrics = {
            "train_loss": state.loss_sum / max(state.loss_count, 1),
            "train_steps": float(state.global_step),
            "train_runtime_s": runtime,
            "train_rows_per_second": rows_seen / runtime if runtime > 0 else 0.0,
            "epoch": float(state.epoch),
        }
        final_eval = state.best_metrics if cfg.load_best_model_at_end and state.best_metrics else state.last_metrics
        metrics.update(final_eval)
        if world.is_main:
            self._save_final(metrics, steps_this_run=state.global_step - start_step)
        log.write({"step": state.global_step, "final": metrics})
        distributed.barrier()  # the saved model is complete before any rank returns
        return metrics

    def _over_ranks(self, window_loss: Tensor) -> float:
        """The loss window's sum averaged over ranks (each rank's own sum when not distributed)."""
        return float(distributed.all_reduce_sum(window_loss).item()) / self.world.world_size

    # ---- one step ---------------------------------------------------------------------------------

    def _collate(self, name: str, rows: Batch, device: torch.device) -> tuple[list[Any], Tensor | None]:
        """Texts of the batch, tokenized column by column (one tokenizer call per column), and labels."""
        dataset = self.datasets[name]
        columns = dataset.batch_texts(rows)
        labels = dataset.batch_labels(rows)
        if labels is not None:
            labels = labels.to(device, non_blocking=True)
        if getattr(self.losses[name], "takes_texts", False):
            return columns, labels
        features = []
        for column, texts in zip(dataset.columns, columns, strict=True):
            task = self.config.router_mapping.get(column)
            batch = self._tokenize(texts) if task is None else self._tokenize(texts, task=task)  # type: ignore[call-arg]
            features.append(features_to_device(batch, device))
        return features, labels

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        precision = self.config.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device.type, dtype=dtype)

    def _optimizer_step(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler | None,
        parameters: list[nn.Parameter],
    ) -> float:
        """Clip, step and advance the schedule; returns the learning rate this step used."""
        lr = float(optimizer.param_groups[0]["lr"])
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, self.config.max_grad_norm, foreach=True)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return lr

    # ---- evaluation, checkpoints, saving ----------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """Run every evaluator on the model now; returns their metrics merged into one dict."""
        was_training = self.model.training
        self.model.eval()
        metrics: dict[str, float] = {}
        try:
            for ev in self.evaluators:
                for key, value in ev(self.model).items():
                    if key in metrics:
                        raise ConfigError(f"two evaluators return the metric {key!r}; give them different names")
                    metrics[key] = float(value)
        finally:
            self.model.train(was_training)
        return metrics

    def _evaluate(self, log: JsonlLog) -> None:
        state, cfg = self.state, self.config
        # Rank 0 evaluates; every rank takes the same best-model and early-stopping decisions from its metrics.
        metrics: dict[str, float] = distributed.broadcast_object(self.evaluate() if self.world.is_main else None)
        state.last_metrics, state.last_eval_step = metrics, state.global_step
        log.write({"step": state.global_step, "eval": metrics})
        name = cfg.metric_for_best_model or self.evaluators[0].primary_metric
        if name not in metrics:
            raise ConfigError(f"metric_for_best_model {name!r} is not among the evaluation metrics {sorted(metrics)}")
        greater = cfg.greater_is_better
        if greater is None:
            greater = bool(getattr(self.evaluators[0], "greater_is_better", True))
        value = metrics[name]
        margin = cfg.early_stopping_threshold
        if state.best_metric is None or (
            value > state.best_metric + margin if greater else value < state.best_metric - margin
        ):
            state.best_metric, state.best_step, state.best_metrics = value, state.global_step, dict(metrics)
            state.evals_without_improvement = 0
            if cfg.load_best_model_at_end and self.world.is_main:
                ckpt.save_weights(self.output_dir / ckpt.CHECKPOINTS_DIR / ckpt.BEST_DIR, self.model, metrics)
        else:
            state.evals_without_improvement += 1
            patience = cfg.early_stopping_patience
            if patience is not None and state.evals_without_improvement >= patience:
                logger.info("early stopping: %s did not improve for %d evaluations", name, patience)
                state.should_stop = True

    def _restore_best(self) -> None:
        """Load the best model's weights (written by rank 0) and copy them to every rank."""
        best = self.output_dir / ckpt.CHECKPOINTS_DIR / ckpt.BEST_DIR
        restored = self.world.is_main and best.is_dir()
        if restored:
            ckpt.load_weights(best, self.model)
            logger.info("restored the best model (step %s, %s)", self.state.best_step, self.state.best_metric)
        if distributed.broadcast_object(restored):
            distributed.broadcast_module(self.model)

    def _save_checkpoint(self, optimizer: Any, scheduler: Any, scaler: Any) -> None:
        root = self.output_dir / ckpt.CHECKPOINTS_DIR
        trainer_state = {
            **asdict(self.state),
            "world_size": self.world.world_size,
            "config": self.config.model_dump(mode="json"),
        }
        rng_states = distributed.gather_objects(ckpt.capture_rng())  # each rank's dropout stream
        if self.world.is_main:
            ckpt.save_checkpoint(
                root / ckpt.checkpoint_name(self.state.global_step),
                model=self.model,
                losses=self.losses,
                optimizer=optimizer,
                scheduler=scheduler,
                scaler=scaler,
                trainer_state=trainer_state,
                rng_states=rng_states,
            )
            ckpt.prune_checkpoints(root, self.config.save_total_limit)

    def _resume_first_intact(self, candidates: list[Path], optimizer: Any, scheduler: Any, scaler: Any) -> None:
        for index, folder in enumerate(candidates):
            try:
                self._resume(folder, optimizer, scheduler, scaler)
                return
            except ckpt.DamagedCheckpointError as exc:
                if index + 1 == len(candidates):
                    raise
                warnings.warn(f"{exc}; falling back to {candidates[index + 1]}", RuntimeWarning, stacklevel=2)

    def _resume(self, folder: Path, optimizer: Any, scheduler: Any, scaler: Any) -> None:
        saved = ckpt.load_checkpoint(
            folder,
            model=self.model,
            losses=self.losses,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            rank=self.world.rank,
        )
        differences = self.config.schedule_differences(TrainingConfig(**saved.pop("config")))
        saved_world = saved.pop("world_size", 1)
        if saved_world != self.world.world_size:
            differences["world_size"] = (self.world.world_size, saved_world)
        if differences:
            shown = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (b, a) in differences.items())
            raise ConfigError(f"{folder} was written under other settings ({shown}); resume with the same ones")
        self.state = TrainerState(**{**saved, "total_steps": self.state.total_steps, "should_stop": False})
        logger.info("resumed from %s at step %d", folder, self.state.global_step)

    def _save_final(self, metrics: dict[str, float], *, steps_this_run: int) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        save = getattr(self.model, "save", None)
        if callable(save):
            save(self.output_dir)
        else:
            ckpt.save_weights(self.output_dir / "weights", self.model, {})
        self.config.save(self.output_dir / "training_config.json")
        write_model_card(
            self.output_dir / "README.md",
            model=self.model,
            datasets=self.datasets,
            losses=self.losses,
            config=self.config,
            metrics=metrics,
            eval_metrics=self.state.best_metrics or self.state.last_metrics,
        )


class _NoLog(JsonlLog):
    """The training log of ranks other than 0: writes nothing."""

    def __init__(self) -> None:
        pass

    def write(self, record: dict[str, Any]) -> None:
        del record


def _match_losses(
    loss: nn.Module | Mapping[str, nn.Module], datasets: Mapping[str, TrainingDataset]
) -> dict[str, nn.Module]:
    if isinstance(loss, Mapping):
        if set(loss) != set(datasets):
            raise ConfigError(
                f"loss is keyed by {sorted(loss)} but train_data by {sorted(datasets)}; give one loss per dataset"
            )
        chosen = {name: loss[name] for name in datasets}
    else:
        chosen = dict.fromkeys(datasets, loss)
    for name, module in chosen.items():
        if not isinstance(module, nn.Module) or not callable(module):
            raise ConfigError(f"the loss of dataset {name!r} must be an nn.Module, found {type(module).__name__}")
    return chosen


def _device_of(model: nn.Module) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    return next(model.parameters()).device


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _check_router_mapping(
    model: nn.Module, mapping: Mapping[str, str], datasets: Mapping[str, TrainingDataset]
) -> None:
    """Every mapped column exists and every task has a route in the model's Router."""
    if not mapping:
        return
    router = model[0] if isinstance(model, nn.Sequential) and len(model) else None
    if not isinstance(router, Router):
        raise ConfigError("router_mapping is set, but the model's first module is not a Router; remove router_mapping")
    columns = {column for dataset in datasets.values() for column in dataset.columns}
    unknown = sorted(set(mapping) - columns)
    if unknown:
        raise ConfigError(f"router_mapping names columns {unknown} that no dataset has; columns: {sorted(columns)}")
    for column, task in mapping.items():
        try:
            router.route_for(task)
        except ConfigError as exc:
            raise ConfigError(f"router_mapping[{column!r}]: {exc}") from exc
