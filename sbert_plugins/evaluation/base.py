"""What every evaluator shares: the call protocol, metric-name prefixes, CSV rows, input checks,
pairwise similarities, and encoding on the query or document side."""

from __future__ import annotations

import csv
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from sbert_plugins.errors import ConfigError

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

logger = logging.getLogger(__name__)

SimilarityName = Literal["cosine", "dot", "euclidean", "manhattan"]
SIMILARITY_NAMES: tuple[str, ...] = get_args(SimilarityName)


class Evaluator(ABC):
    """Base class of the evaluators: ``evaluator(model) -> dict[str, float]``.

    Subclasses implement :meth:`compute` (the metrics without prefix). Calling the evaluator prefixes
    each metric with ``name + "_"`` when a name is given, and appends a CSV row
    (``epoch, steps, <metrics>``) to ``output_path / csv_file`` when ``output_path`` is given and
    ``write_csv`` is on.

    Attributes:
        name: prefix of the metric names ("" for none).
        primary_metric: the (prefixed) key of the metric to select models by; evaluators whose metrics
            follow the model's similarity function settle it on their first call.
        greater_is_better: always True (losses are reported negated, e.g. ``negative_mse``).
        csv_file: the CSV file name used inside ``output_path``.
    """

    greater_is_better: bool = True

    def __init__(self, *, name: str, write_csv: bool, csv_stem: str) -> None:
        if not isinstance(name, str):
            raise ConfigError(f"name must be a string, found {type(name).__name__}")
        self.name = name
        self.write_csv = write_csv
        self.csv_file = f"{csv_stem}{'_' + name if name else ''}_results.csv"
        self._primary = ""

    @property
    def primary_metric(self) -> str:
        return self.prefixed(self._primary)

    @primary_metric.setter
    def primary_metric(self, key: str) -> None:
        self._primary = key

    def prefixed(self, key: str) -> str:
        """``key`` with this evaluator's name prefix."""
        return f"{self.name}_{key}" if self.name else key

    def __call__(
        self, model: SentenceEncoder, output_path: str | Path | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Evaluate ``model``; returns the prefixed metrics (and appends them to the CSV, see the class)."""
        metrics = {key: float(value) for key, value in self.compute(model).items()}
        if output_path is not None and self.write_csv:
            append_csv_row(Path(output_path) / self.csv_file, epoch, steps, metrics)
        logger.info(
            "%s%s: %s",
            type(self).__name__,
            f" ({self.name})" if self.name else "",
            ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
        )
        return {self.prefixed(key): value for key, value in metrics.items()}

    @abstractmethod
    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        """The metrics of ``model`` on this evaluator's data, without the name prefix."""


def append_csv_row(path: Path, epoch: int, steps: int, metrics: dict[str, float]) -> None:
    """Append ``epoch, steps, *metrics`` to ``path``, writing the header first when the file is new."""
    header = ["epoch", "steps", *metrics]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            existing = next(csv.reader(handle), None)
        if existing != header:
            logger.warning("%s has columns %s; appending a row for %s", path, existing, header)
        mode = "a"
    else:
        mode = "w"
    with path.open(mode, newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if mode == "w":
            writer.writerow(header)
        writer.writerow([epoch, steps, *metrics.values()])


# ---- input checks ------------------------------------------------------------------------------


def check_texts(values: Any, argument: str, *, allow_empty: bool = False) -> list[str]:
    """``values`` as a list of strings, or :class:`ConfigError` naming ``argument`` and the bad index."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(f"{argument} must be a list of strings, found {type(values).__name__}")
    texts = list(values)
    if not texts and not allow_empty:
        raise ConfigError(f"{argument} is empty; give at least one text")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"{argument}[{index}] is {type(text).__name__}, expected str")
    return texts


def check_same_length(**sequences: Sized) -> None:
    """Raise :class:`ConfigError` listing the lengths when the named sequences differ in length."""
    lengths = {name: len(seq) for name, seq in sequences.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ConfigError(f"{', '.join(lengths)} must have the same length, found {found}")


def check_scores(values: Any, argument: str) -> np.ndarray:
    """``values`` as a float64 array of finite numbers, or :class:`ConfigError` naming the bad index."""
    result: list[float] = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{argument}[{index}] is {type(value).__name__}, expected a number")
        if not math.isfinite(float(value)):
            raise ConfigError(f"{argument}[{index}] is {value}, expected a finite number")
        result.append(float(value))
    return np.asarray(result, dtype=np.float64)


def check_positive_int(value: Any, argument: str) -> int:
    """``value`` if it is an integer > 0, else :class:`ConfigError` naming ``argument``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{argument} must be a positive integer, found {value!r}")
    return int(value)


def check_cutoffs(values: Any, argument: str) -> tuple[int, ...]:
    """A non-empty list of positive integers (the k of metric@k), sorted and without repeats."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{argument} must be a non-empty list of positive integers, found {values!r}")
    return tuple(sorted({check_positive_int(k, f"{argument}[{i}]") for i, k in enumerate(values)}))


def check_similarity_names(
    names: Sequence[str] | None, argument: str = "similarity_fn_names", *, main_similarity: str | None = None
) -> list[str] | None:
    """Validated similarity names; ``None`` stays ``None`` (use the model's own similarity).

    With ``main_similarity``, it must be among ``names``; when ``names`` is None it becomes the only one.
    """
    if main_similarity is not None:
        if main_similarity not in SIMILARITY_NAMES:
            raise ConfigError(f"main_similarity: unknown similarity {main_similarity!r}; use one of {SIMILARITY_NAMES}")
        if names is None:
            names = [main_similarity]
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ConfigError(f"{argument} is empty; use None for the model's similarity or some of {SIMILARITY_NAMES}")
    for name in names:
        if name not in SIMILARITY_NAMES:
            raise ConfigError(f"{argument}: unknown similarity {name!r}; use one of {SIMILARITY_NAMES}")
    if main_similarity is not None and main_similarity not in names:
        raise ConfigError(f"main_similarity {main_similarity!r} is not among {argument} {names}")
    return list(dict.fromkeys(names))


def check_truncate_dim(value: int | None) -> int | None:
    """``None`` or a positive integer."""
    return None if value is None else check_positive_int(value, "truncate_dim")


# ---- embeddings and similarities ---------------------------------------------------------------


def pairwise_similarity(name: str, a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Similarity of ``a[i]`` with ``b[i]`` for each row (float32); distances are negated, higher = closer."""
    x = torch.as_tensor(a, dtype=torch.float32)
    y = torch.as_tensor(b, dtype=torch.float32)
    if name == "cosine":
        scores = (F.normalize(x, p=2, dim=-1) * F.normalize(y, p=2, dim=-1)).sum(dim=-1)
    elif name == "dot":
        scores = (x * y).sum(dim=-1)
    elif name == "euclidean":
        scores = -torch.sqrt(((x - y) ** 2).sum(dim=-1))
    elif name == "manhattan":
        scores = -(x - y).abs().sum(dim=-1)
    else:
        raise ConfigError(f"unknown similarity {name!r}; use one of {SIMILARITY_NAMES}")
    return scores.numpy()


Side = Literal["query", "document"] | None


def encode_texts(
    model: SentenceEncoder,
    texts: Sequence[str],
    *,
    side: Side = None,
    batch_size: int,
    truncate_dim: int | None,
    show_progress: bool,
    prompt: str | None = None,
    prompt_name: str | None = None,
    convert_to: Literal["numpy", "torch"] = "numpy",
) -> Any:
    """Embed ``texts`` with the model's query or document prompt (``side``), unless a prompt is given."""
    options: dict[str, Any] = {
        "batch_size": batch_size,
        "truncate_dim": truncate_dim,
        "show_progress": show_progress,
        "convert_to": convert_to,
    }
    if prompt is not None or prompt_name is not None:
        return model.encode(list(texts), prompt=prompt, prompt_name=prompt_name, **options)
    if side == "query":
        return model.encode_queries(list(texts), **options)
    if side == "document":
        return model.encode_documents(list(texts), **options)
    return model.encode(list(texts), **options)


def similarity_names_for(model: SentenceEncoder, names: list[str] | None) -> list[str]:
    """``names``, or the model's own similarity function when ``names`` is None."""
    return names if names is not None else [model.similarity_fn_name]
