"""TrainingConfig: every setting of a training run, validated when built and saved as JSON with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sbert_plugins.errors import ConfigError

SamplerName = Literal["random", "no_duplicates", "group_by_label"]
MultiDatasetSampling = Literal["round_robin", "proportional"]
SchedulerName = Literal["linear", "cosine", "constant"]
MixedPrecision = Literal["fp32", "fp16", "bf16"]

# Settings that decide which batch comes at which step: a checkpoint can only be resumed under the same values.
SCHEDULE_FIELDS = (
    "epochs",
    "max_steps",
    "batch_size",
    "gradient_accumulation_steps",
    "seed",
    "batch_sampler",
    "samples_per_label",
    "group_by_length",
    "multi_dataset_sampling",
    "drop_last",
)


class TrainingConfig(BaseModel):
    """The settings of a training run (pydantic: unknown keys and bad values are errors at construction).

    Args:
        output_dir: where the trained model (sentence-transformers folder + ``README.md`` model card),
            ``training_log.jsonl`` and ``checkpoints/`` are written.
        epochs: passes over the training data.
        max_steps: stop after this many optimizer steps (overrides ``epochs``; the schedule ends there).
        batch_size: rows per batch (per dataset when there are several); in a distributed run, rows per process
            and batch (the global batch is ``batch_size * world_size``, cut into one slice per rank).
        learning_rate, weight_decay, adam_beta1, adam_beta2, adam_epsilon: AdamW settings; biases and
            normalisation weights get no weight decay.
        scheduler: learning-rate schedule after warmup: ``linear`` decay to 0, ``cosine`` decay to 0, or ``constant``.
        warmup_ratio / warmup_steps: linear warmup from 0 over this share of all steps, or this many steps
            (``warmup_steps`` wins when both are given).
        gradient_accumulation_steps: batches whose gradients are summed before each optimizer step.
        max_grad_norm: clip the gradient norm to this value (``None``: no clipping).
        seed: seeds Python, NumPy and torch; the batch order depends only on it and the epoch.
        precision: ``fp32``; ``bf16`` autocast (CPU or CUDA); ``fp16`` autocast with loss scaling (CUDA only).
        batch_sampler: ``random``; ``no_duplicates`` (no text twice in a batch, for in-batch negatives);
            ``group_by_label`` (``samples_per_label`` rows of each label together, for batch triplet losses).
            One name for all datasets, or a dict keyed by dataset name.
        group_by_length: with the ``random`` sampler, put rows of similar token length in the same batch
            (sorted within windows of 50 batches, then the batches shuffled): much less padding is computed.
        multi_dataset_sampling: with several datasets, ``round_robin`` (one batch of each in turn, until the
            smallest runs out) or ``proportional`` (every batch of every dataset, in random order).
        drop_last: drop each dataset's last, incomplete batch.
        eval_steps: evaluate every this many optimizer steps (and always at the end) when evaluators are given.
        metric_for_best_model: the metric that picks the best model (default: the first evaluator's
            ``primary_metric``); the best model is restored at the end when ``load_best_model_at_end``.
        greater_is_better: direction of that metric (default: the evaluator's ``greater_is_better``, else True).
        early_stopping_patience: stop after this many evaluations without improvement (``None``: never).
        early_stopping_threshold: the least change that counts as an improvement.
        save_steps: write a checkpoint every this many optimizer steps (``None``: no checkpoints).
        save_total_limit: keep only the newest this many checkpoints (``None``: keep all).
        resume_from: a checkpoint folder, or ``"latest"`` for the newest one in ``output_dir/checkpoints``.
        logging_steps: log the mean loss and learning rate every this many optimizer steps.
        show_progress: show a progress bar with the running loss.
        num_threads: ``torch.set_num_threads`` for the run, restored when it ends (``None``: leave torch's choice).
        router_mapping: for a model with a :class:`~sbert_plugins.modules.Router`, the task (route) of each
            text column, e.g. ``{"query": "query", "positive": "document", "negative_1": "document"}`` (the
            reference's ``router_mapping``); columns left out take the Router's default route.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    output_dir: str = "output"
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(2e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    adam_epsilon: float = Field(1e-8, gt=0)
    scheduler: SchedulerName = "linear"
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    warmup_steps: int | None = Field(None, ge=0)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    seed: int = 42
    precision: MixedPrecision = "fp32"
    batch_sampler: SamplerName | dict[str, SamplerName] = "random"
    samples_per_label: int = Field(2, ge=2)
    group_by_length: bool = False
    multi_dataset_sampling: MultiDatasetSampling = "proportional"
    drop_last: bool = False
    eval_steps: int | None = Field(None, ge=1)
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    load_best_model_at_end: bool = True
    early_stopping_patience: int | None = Field(None, ge=1)
    early_stopping_threshold: float = Field(0.0, ge=0)
    save_steps: int | None = Field(None, ge=1)
    save_total_limit: int | None = Field(None, ge=1)
    resume_from: str | None = None
    logging_steps: int = Field(10, ge=1)
    show_progress: bool = True
    num_threads: int | None = Field(None, ge=1)
    router_mapping: dict[str, str] = Field(default_factory=dict)

    def __init__(self, **settings: object) -> None:
        try:
            super().__init__(**settings)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ConfigError(f"invalid training config: {_describe(exc)}") from exc

    @model_validator(mode="after")
    def _check_combinations(self) -> TrainingConfig:
        if self.batch_sampler_for_any("group_by_label") and self.batch_size % self.samples_per_label:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of samples_per_label ({self.samples_per_label}) "
                "with the group_by_label sampler"
            )
        if not self.output_dir.strip():
            raise ValueError("output_dir must not be empty")
        return self

    def batch_sampler_for_any(self, name: str) -> bool:
        """Whether ``name`` is the sampler of at least one dataset."""
        if isinstance(self.batch_sampler, str):
            return self.batch_sampler == name
        return name in self.batch_sampler.values()

    def sampler_for(self, dataset: str) -> SamplerName:
        """The batch sampler of ``dataset`` (raises :class:`ConfigError` when a per-dataset dict lacks it)."""
        if isinstance(self.batch_sampler, str):
            return self.batch_sampler
        if dataset not in self.batch_sampler:
            raise ConfigError(
                f"batch_sampler has no entry for dataset {dataset!r} (it has {sorted(self.batch_sampler)}); "
                "add one or give a single sampler name for all datasets"
            )
        return self.batch_sampler[dataset]

    # ---- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The config as a JSON string (every field, defaults included)."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> TrainingConfig:
        """Build a config from :meth:`to_json` output; bad or unknown keys raise :class:`ConfigError`."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise ConfigError(f"invalid training config: {_describe(exc)}") from exc

    def save(self, path: str | Path) -> None:
        """Write the config as JSON to ``path``."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TrainingConfig:
        """Read a config written by :meth:`save`; errors name the file."""
        source = Path(path)
        try:
            return cls.from_json(source.read_text(encoding="utf-8"))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc

    def schedule_differences(self, other: TrainingConfig) -> dict[str, tuple[object, object]]:
        """Fields that decide the batch order and differ between ``self`` and ``other``."""
        return {
            name: (getattr(self, name), getattr(other, name))
            for name in SCHEDULE_FIELDS
            if getattr(self, name) != getattr(other, name)
        }


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "config"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
