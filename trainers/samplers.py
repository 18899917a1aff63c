"""Batch samplers: which rows form each batch, and in which order the batches of several datasets come.

Every sampler is a pure function of a ``torch.Generator``: the trainer seeds one with ``seed + epoch``,
so an epoch's batches can be rebuilt exactly when training resumes from a checkpoint, and the position
inside the epoch is just an index into the list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

import torch
from torch import Tensor

from sbert_plugins.errors import ConfigError, DataError
from trainers.config import MultiDatasetSampling, SamplerName
from trainers.data import TrainingDataset

Batch = list[int]


class BatchSampler(Protocol):
    """Splits one dataset's rows into batches for one epoch."""

    def batches(self, generator: torch.Generator) -> list[Batch]: ...


def _permutation(n: int, generator: torch.Generator) -> list[int]:
    return torch.randperm(n, generator=generator).tolist()


class RandomBatchSampler:
    """Shuffles the rows and cuts them into batches of ``batch_size`` (the last one smaller unless ``drop_last``).

    With ``lengths`` (one per row, e.g. the longest text's token count), batches are grouped by length:
    the shuffled rows are taken ``window`` batches at a time, sorted by length inside that window and cut
    into batches, and then all batches are shuffled. Each batch then holds rows of similar length, so
    padding to the batch's longest text wastes little compute (on STSb about half the padded tokens
    of random batches), while which rows meet and the order of batches stay random.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        drop_last: bool = False,
        lengths: Sequence[int] | None = None,
        window: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, found {batch_size}")
        if lengths is not None and len(lengths) != size:
            raise ConfigError(f"lengths has {len(lengths)} entries for {size} rows")
        if window < 1:
            raise ConfigError(f"window must be at least 1, found {window}")
        self.size = size
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.lengths = lengths
        self.window = window

    def batches(self, generator: torch.Generator) -> list[Batch]:
        order = _permutation(self.size, generator)
        if self.lengths is not None:
            lengths, span = self.lengths, self.batch_size * self.window
            order = [
                i
                for start in range(0, self.size, span)
                for i in sorted(order[start : start + span], key=lengths.__getitem__)
            ]
        result = [order[i : i + self.batch_size] for i in range(0, self.size, self.batch_size)]
        if self.drop_last and result and len(result[-1]) < self.batch_size:
            result.pop()
        if self.lengths is not None:
            result = [result[i] for i in _permutation(len(result), generator)]
        return result


class NoDuplicatesBatchSampler:
    """Like :class:`RandomBatchSampler`, but no text appears twice in a batch.

    In-batch-negative losses (MultipleNegativesRankingLoss) treat every other row of the batch as a
    negative; a duplicate text would then be a "negative" equal to the positive. A row that would repeat
    a text of the batch being filled waits for a later batch (keeping its place in the shuffled order),
    so the last batches may be smaller when many rows share texts.

    Args:
        row_texts: all texts of each row (every text column).
    """

    def __init__(self, row_texts: Sequence[Sequence[str]], batch_size: int, *, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, found {batch_size}")
        self.row_texts = row_texts
        self.batch_size = batch_size
        self.drop_last = drop_last

    def batches(self, generator: torch.Generator) -> list[Batch]:
        remaining = deque(_permutation(len(self.row_texts), generator))
        result: list[Batch] = []
        while remaining:
            batch: Batch = []
            seen: set[str] = set()
            waiting: list[int] = []
            while remaining and len(batch) < self.batch_size:
                index = remaining.popleft()
                texts = self.row_texts[index]
                if seen.isdisjoint(texts):
                    batch.append(index)
                    seen.update(texts)
                else:
                    waiting.append(index)
            remaining.extendleft(reversed(waiting))
            result.append(batch)
        if self.drop_last:
            result = [b for b in result if len(b) == self.batch_size]
        return result


class GroupByLabelBatchSampler:
    """Batches made of groups of ``samples_per_label`` rows that share a label.

    Batch triplet losses (BatchHardTripletLoss and relatives) need at least two rows of a label in a
    batch to form a positive pair. Each label's rows are shuffled and cut into groups of
    ``samples_per_label``; leftover rows too few to make a group of two are left out of the epoch, and
    labels with a single row never appear. The groups are shuffled and packed into batches.

    Args:
        labels: one integer class label per row.
        batch_size: rows per batch, a multiple of ``samples_per_label``.
    """

    def __init__(self, labels: Tensor, batch_size: int, *, samples_per_label: int = 2, drop_last: bool = False) -> None:
        if samples_per_label < 2:
            raise ConfigError(f"samples_per_label must be at least 2, found {samples_per_label}")
        if batch_size % samples_per_label:
            raise ConfigError(
                f"batch_size ({batch_size}) must be a multiple of samples_per_label ({samples_per_label})"
            )
        if labels.dim() != 1 or labels.dtype != torch.long:
            raise DataError("the group_by_label sampler needs one integer class label per row")
        self.batch_size = batch_size
        self.samples_per_label = samples_per_label
        self.drop_last = drop_last
        by_label: dict[int, list[int]] = {}
        for index, label in enumerate(labels.tolist()):
            by_label.setdefault(label, []).append(index)
        self.groups_by_label = [rows for _, rows in sorted(by_label.items()) if len(rows) >= 2]
        if not self.groups_by_label:
            raise DataError("the group_by_label sampler found no label with at least two rows")

    def batches(self, generator: torch.Generator) -> list[Batch]:
        groups: list[Batch] = []
        for rows in self.groups_by_label:
            shuffled = [rows[i] for i in _permutation(len(rows), generator)]
            for start in range(0, len(shuffled), self.samples_per_label):
                group = shuffled[start : start + self.samples_per_label]
                if len(group) >= 2:
                    groups.append(group)
        groups = [groups[i] for i in _permutation(len(groups), generator)]
        per_batch = self.batch_size // self.samples_per_label
        result: list[Batch] = []
        for start in range(0, len(groups), per_batch):
            result.append([row for group in groups[start : start + per_batch] for row in group])
        if self.drop_last and result and len(result[-1]) < self.batch_size:
            result.pop()
        return result


def make_sampler(
    name: SamplerName,
    dataset: TrainingDataset,
    batch_size: int,
    *,
    samples_per_label: int = 2,
    drop_last: bool = False,
    lengths: Sequence[int] | None = None,
) -> BatchSampler:
    """The sampler called ``name`` over ``dataset``; ``lengths`` (one per row) groups the random sampler's
    batches by length.

    Raises:
        ConfigError: an unknown name.
        DataError: ``group_by_label`` on a dataset without integer labels.
    """
    if name == "random":
        return RandomBatchSampler(len(dataset), batch_size, drop_last=drop_last, lengths=lengths)
    if name == "no_duplicates":
        rows = list(zip(*dataset.texts))
        return NoDuplicatesBatchSampler(rows, batch_size, drop_last=drop_last)
    if name == "group_by_label":
        if dataset.labels is None:
            raise DataError(f"dataset {dataset.name!r} ({dataset.source}) has no labels; group_by_label needs them")
        try:
            return GroupByLabelBatchSampler(
                dataset.labels, batch_size, samples_per_label=samples_per_label, drop_last=drop_last
            )
        except DataError as exc:
            raise DataError(f"dataset {dataset.name!r} ({dataset.source}): {exc}") from exc
    raise ConfigError(f"unknown batch sampler {name!r}; use random, no_duplicates or group_by_label")


def interleave(
    batches: Mapping[str, list[Batch]], mode: MultiDatasetSampling, generator: torch.Generator
) -> list[tuple[str, Batch]]:
    """One epoch's batches of several datasets as ``(dataset name, rows)`` in training order.

    ``round_robin``: one batch of each dataset in turn, stopping when the smallest runs out (every
    dataset gets the same number of steps). ``proportional``: every batch of every dataset, the datasets
    mixed in random order, so each is seen in proportion to its size.
    """
    names = list(batches)
    if len(names) == 1:
        return [(names[0], b) for b in batches[names[0]]]
    if mode == "round_robin":
        rounds = min(len(b) for b in batches.values())
        return [(name, batches[name][i]) for i in range(rounds) for name in names]
    if mode == "proportional":
        slots = [name for name in names for _ in batches[name]]
        order = _permutation(len(slots), generator)
        position = dict.fromkeys(names, 0)
        result: list[tuple[str, Batch]] = []
        for slot in order:
            name = slots[slot]
            result.append((name, batches[name][position[name]]))
            position[name] += 1
        return result
    raise ConfigError(f"unknown multi_dataset_sampling {mode!r}; use round_robin or proportional")


def shard(batches: list[tuple[str, Batch]], rank: int, world_size: int) -> list[tuple[str, Batch]]:
    """Rank ``rank``'s part of each global batch, for ``world_size`` processes training together.

    Every rank builds the same global batches from the same seed and keeps its contiguous slice of each:
    ``world_size`` slices whose sizes differ by at most one row, so the global batch is the concatenation of
    the local batches in rank order. A global batch with fewer rows than ranks is left out on every rank
    (each rank must have a row to train on at each step).

    Raises:
        ConfigError: ``rank`` is not in ``[0, world_size)``.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not a valid rank among {world_size} processes")
    if world_size == 1:
        return batches
    result: list[tuple[str, Batch]] = []
    for name, batch in batches:
        if len(batch) < world_size:
            continue
        size, extra = divmod(len(batch), world_size)
        start = rank * size + min(rank, extra)
        result.append((name, batch[start : start + size + (1 if rank < extra else 0)]))
    return result
