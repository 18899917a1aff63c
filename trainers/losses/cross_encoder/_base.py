"""What every cross-encoder loss shares: checking the text columns, scoring (first, second) pairs with the
model (in chunks, with gradients), the activation on the logits, and running the maths in float32."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._checks import check_column_count, choice, integer_at_least

LogitActivation = Literal["identity", "sigmoid", "tanh"]
LOGIT_ACTIVATIONS: tuple[str, ...] = ("identity", "sigmoid", "tanh")


def activate(logits: Tensor, activation: str) -> Tensor:
    """``logits`` through the named activation (applied before the loss maths)."""
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    if activation == "tanh":
        return torch.tanh(logits)
    return logits


class CrossEncoderLoss(nn.Module, ABC):
    """Base of the cross-encoder losses: ``loss(texts, labels) -> scalar``.

    ``texts`` is a list of text columns (one list of strings per column, as the trainer passes them to
    losses with ``takes_texts = True``). Subclasses score the pairs they build from the columns with
    :meth:`score_pairs` and put the maths in a method that takes tensors, so tests can feed hand-made
    logits. The maths runs in float32 with autocast off: mixed precision only affects the model.
    """

    takes_texts: ClassVar[bool] = True
    min_columns: ClassVar[int] = 2
    max_columns: ClassVar[int | None] = 2
    columns: ClassVar[str] = "(first, second)"
    one_label: ClassVar[bool] = True
    """Whether the model must give one score per pair (``num_labels == 1``)."""

    def __init__(
        self, model: CrossEncoder, *, activation: LogitActivation = "identity", mini_batch_size: int | None = None
    ) -> None:
        super().__init__()
        if not isinstance(model, CrossEncoder):
            raise TypeError(f"{type(self).__name__} expects a CrossEncoder, found {type(model).__name__}")
        if self.one_label and model.num_labels != 1:
            raise ConfigError(
                f"{type(self).__name__} needs a model with one score per pair (num_labels=1), "
                f"this one has num_labels={model.num_labels}"
            )
        self.model = model
        self.activation: str = choice(self._name, "activation", activation, LOGIT_ACTIVATIONS)
        self.mini_batch_size = (
            None if mini_batch_size is None else integer_at_least(self._name, "mini_batch_size", mini_batch_size, 1)
        )

    @property
    def _name(self) -> str:
        return type(self).__name__

    def check_columns(self, texts: Any) -> list[list[str]]:
        """``texts`` as a list of string columns of one length, or :class:`DataError` naming the fault."""
        if isinstance(texts, (str, bytes, dict)) or not isinstance(texts, Sequence):
            raise DataError(f"{self._name} expects a list of text columns {self.columns}, found {type(texts).__name__}")
        check_column_count(
            self._name, len(texts), minimum=self.min_columns, maximum=self.max_columns, columns=self.columns
        )
        columns = [self.string_column(index, column) for index, column in enumerate(texts)]
        sizes = [len(c) for c in columns]
        if len(set(sizes)) > 1:
            raise DataError(f"{self._name}: every text column must hold the same number of rows, found {sizes}")
        if sizes[0] == 0:
            raise DataError(f"{self._name}: the batch is empty")
        return columns

    def string_column(self, index: int, column: Any) -> list[str]:
        """Column ``index`` as a list of strings, or :class:`DataError` naming the faulty row."""
        if isinstance(column, (str, bytes)) or not isinstance(column, Sequence):
            raise DataError(f"{self._name}: column {index} must be a list of strings, found {type(column).__name__}")
        for row, text in enumerate(column):
            if not isinstance(text, str):
                raise DataError(f"{self._name}: column {index}, row {row} is {type(text).__name__}, expected str")
        return list(column)

    def score_pairs(self, pairs: list[tuple[str, str]], chunk: int) -> Tensor:
        """Raw logits ``(len(pairs), num_labels)`` with gradients, ``mini_batch_size`` (else ``chunk``) pairs
        per forward pass."""
        size = self.mini_batch_size or chunk
        device = self.model.device
        outputs = []
        for start in range(0, len(pairs), size):
            features = self.model.tokenize(pairs[start : start + size])
            outputs.append(self.model({k: v.to(device, non_blocking=True) for k, v in features.items()}))
        return torch.cat(outputs)

    def float32(self) -> Any:
        """A context that switches autocast off, for the loss maths."""
        return torch.autocast(device_type=self.model.device.type, enabled=False)

    @abstractmethod
    def get_config_dict(self) -> dict[str, Any]:
        """The hyper-parameters, JSON-serialisable (written to the model card)."""


class PairLoss(CrossEncoderLoss):
    """A loss on one score (or one row of class logits) per ``(first, second)`` row."""

    def forward(self, texts: list[list[str]], labels: Tensor | None = None) -> Tensor:
        """Score each ``(texts[0][i], texts[1][i])`` pair and return the scalar loss.

        Raises:
            DataError: not two text columns, a non-string text, or labels missing or of the wrong shape.
        """
        first, second = self.check_columns(texts)
        logits = self.score_pairs(list(zip(first, second, strict=True)), len(first))
        with self.float32():
            return self.compute_loss_from_logits(logits.float(), labels)

    @abstractmethod
    def compute_loss_from_logits(self, logits: Tensor, labels: Tensor | None) -> Tensor:
        """The scalar loss of one batch from the raw logits ``(batch, num_labels)`` (activation applied here)."""
