"""``embed_dataset``: a Ray Data ``Dataset`` of texts -> the same rows with an embedding column.

A pool of actors each loads the model once (``map_batches`` with a callable class) and embeds the
batches Ray hands it; the number of actors and the CPUs/GPUs each one takes decide the throughput.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sbert_plugins.device import Precision
from sbert_plugins.errors import ConfigError, DataError, missing_dependency

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

Role = Literal["document", "query"]


def ray_module() -> Any:
    """``ray`` (with Ray Data), or :class:`MissingDependencyError` naming the ``[ray]`` extra."""
    try:
        import ray
        import ray.data  # Ray Data ships in ray, but needs the [data] extra's packages
    except ImportError as exc:
        raise missing_dependency("ray[data]", "ray") from exc
    return ray


class ActorSettings(BaseModel):
    """How the embedding actors run.

    ``concurrency`` is the number of actors (each holds one copy of the model), or ``(min, max)`` for
    a pool that Ray grows and shrinks with the load. ``num_cpus``/``num_gpus`` are what Ray reserves
    for each actor (a fraction of a GPU lets several actors share one). ``batch_size`` is the number
    of rows Ray hands an actor at a time; ``encode_batch_size`` caps the texts per forward pass (default:
    the encoder's token-budget batching).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int | tuple[int, int] = 1
    num_cpus: float = Field(default=1.0, ge=0.0)
    num_gpus: float = Field(default=0.0, ge=0.0)
    batch_size: int = Field(default=256, gt=0)
    encode_batch_size: int | None = Field(default=None, gt=0)
    precision: Precision = "fp32"
    device: str | None = None

    @field_validator("concurrency")
    @classmethod
    def _check_concurrency(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        low, high = (value, value) if isinstance(value, int) else value
        if low < 1 or high < low:
            raise ValueError(f"concurrency must be >= 1 actors, or (min, max) with 1 <= min <= max; found {value!r}")
        return value

    def map_options(self) -> dict[str, Any]:
        """Keyword arguments of ``Dataset.map_batches`` for the actor pool."""
        options: dict[str, Any] = {"concurrency": self.concurrency, "batch_size": self.batch_size}
        if self.num_gpus:
            options["num_gpus"] = self.num_gpus
        options["num_cpus"] = self.num_cpus
        return options


class Embedder:
    """The callable class Ray instantiates once per actor: loads the model, embeds each batch.

    Args:
        model: a folder or model name (loaded in the actor), or a :class:`SentenceEncoder` (Ray
            ships a copy to each actor).
        settings: precision, device, encode batch size, CPU threads.
        text_column: the column holding the texts.
        embedding_column: the column the embeddings go to (float32, one row per text).
        role: ``"document"`` applies the model's document prompt (if it has one), ``"query"`` its
            query prompt, None neither (the model's default prompt, if any, still applies).
        normalize: scale embeddings to unit length.
        only: a boolean column: rows where it is false get a zero vector without being encoded
            (the ingest path uses it for rows already stored or rejected).
    """

    def __init__(
        self,
        model: SentenceEncoder | str | Path | None,
        settings: ActorSettings,
        text_column: str,
        embedding_column: str,
        role: Role | None = "document",
        normalize: bool = False,
        only: str | None = None,
        truncated_column: str | None = None,
    ) -> None:
        import torch

        from sbert_plugins.device import precision_dtype, resolve_device
        from sbert_plugins.encoder import SentenceEncoder

        if settings.num_cpus >= 1 and settings.num_gpus == 0:
            # Ray reserves num_cpus for this actor; more torch threads would fight the other actors.
            torch.set_num_threads(int(settings.num_cpus))
        if isinstance(model, SentenceEncoder):
            self.model = model.to(resolve_device(settings.device))
            if settings.precision != "fp32":
                self.model.to(precision_dtype(settings.precision))
            self.model.eval()
        else:
            self.model = SentenceEncoder(model, device=settings.device, precision=settings.precision)
        self.settings = settings
        self.text_column, self.embedding_column = text_column, embedding_column
        self.role, self.normalize, self.only = role, normalize, only
        self.truncated_column = truncated_column

    def encode(self, texts: list[str]) -> np.ndarray:
        """Float32 embeddings of ``texts`` (one row each), with the configured prompt and batch size."""
        options: dict[str, Any] = {
            "batch_size": self.settings.encode_batch_size,
            "normalize": self.normalize,
            "show_progress": False,
        }
        if self.role == "document":
            vectors = self.model.encode_documents(texts, **options)
        elif self.role == "query":
            vectors = self.model.encode_queries(texts, **options)
        else:
            vectors = self.model.encode(texts, **options)
        return np.asarray(vectors, dtype=np.float32)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.text_column not in batch:
            raise DataError(f"the dataset has no column {self.text_column!r}; columns: {sorted(batch)}")
        texts = batch[self.text_column]
        n = len(texts)
        selected = np.ones(n, dtype=bool) if self.only is None else np.asarray(batch[self.only], dtype=bool)
        picked = [texts[i] for i in np.flatnonzero(selected)]
        for i, text in zip(np.flatnonzero(selected), picked, strict=True):
            if not isinstance(text, str):
                raise DataError(
                    f"column {self.text_column!r} holds a {type(text).__name__} at row {i} of a batch; "
                    "every text must be a string (filter or fill missing texts first)"
                )
        vectors = np.zeros((n, self.model.embedding_dim), dtype=np.float32)
        if picked:
            vectors[selected] = self.encode(picked)
        out = dict(batch)
        out[self.embedding_column] = vectors
        if self.truncated_column is not None:
            # The encoder counts truncated texts per call, not per text: the batch's count goes on its first row.
            counts = np.zeros(n, dtype=np.int64)
            if picked:
                counts[0] = self.model.last_truncated_count
            out[self.truncated_column] = counts
        return out


def embed_dataset(
    ds: Any,
    model: SentenceEncoder | str | Path | None = None,
    *,
    text_column: str = "text",
    embedding_column: str = "embedding",
    role: Role | None = "document",
    normalize: bool = False,
    concurrency: int | tuple[int, int] = 1,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    batch_size: int = 256,
    encode_batch_size: int | None = None,
    precision: Precision = "fp32",
    device: str | None = None,
) -> Any:
    """Add an embedding column to a Ray ``Dataset``, computed by a pool of actors (one model each).

    Args:
        ds: a ``ray.data.Dataset`` with a text column.
        model: a model folder (a fine-tuned model included) or name, loaded once in each actor; or a
            :class:`SentenceEncoder` (shipped to each actor). Default: all-MiniLM-L6-v2.
        text_column: the column with the texts (each a string).
        embedding_column: the new column: float32 vectors of the model's dimension.
        role: ``"document"`` (default: the model's document prompt, like ``encode_documents``),
            ``"query"`` (``encode_queries``) or None (``encode``).
        normalize: scale the embeddings to unit length.
        concurrency: number of actors, or ``(min, max)`` for an autoscaling pool.
        num_cpus, num_gpus: resources Ray reserves per actor (``num_gpus=1``: one GPU each).
        batch_size: rows per actor call; encode_batch_size: at most this many texts per forward pass
            (default: the encoder's token-budget batching).
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"`` weights (fp16/bf16 want a GPU).
        device: the actor's torch device (default: cuda when Ray gave the actor a GPU, else cpu).

    Returns:
        a lazy ``Dataset``: the input rows with ``embedding_column`` added (executed when consumed).

    Raises:
        ConfigError: an invalid setting (checked here, before Ray starts anything).
        MissingDependencyError: Ray Data is not installed.
    """
    ray_module()
    settings = _settings(concurrency, num_cpus, num_gpus, batch_size, encode_batch_size, precision, device)
    _check_columns(text_column, embedding_column)
    if role not in ("document", "query", None):
        raise ConfigError(f"role must be 'document', 'query' or None, found {role!r}")
    return ds.map_batches(
        Embedder,
        fn_constructor_args=(_shippable(model), settings, text_column, embedding_column, role, bool(normalize)),
        batch_format="numpy",
        **settings.map_options(),
    )


def _settings(
    concurrency: Any,
    num_cpus: Any,
    num_gpus: Any,
    batch_size: Any,
    encode_batch_size: Any,
    precision: Any,
    device: Any,
) -> ActorSettings:
    from pydantic import ValidationError

    try:
        return ActorSettings(
            concurrency=concurrency,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            batch_size=batch_size,
            encode_batch_size=encode_batch_size,
            precision=precision,
            device=device,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid Ray embedding settings: {problems}") from exc


def _check_columns(*names: Any) -> None:
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"column names must be non-empty strings, found {name!r}")


def _shippable(model: SentenceEncoder | str | Path | None) -> Any:
    """What goes to the actors: a folder or name as a string, or the encoder itself (Ray ships a copy)."""
    from sbert_plugins.encoder import SentenceEncoder

    if isinstance(model, SentenceEncoder):
        return model
    if model is not None and not isinstance(model, (str, Path)):
        raise ConfigError(f"model must be a SentenceEncoder, a folder or a model name, found {type(model).__name__}")
    return None if model is None else str(model)
