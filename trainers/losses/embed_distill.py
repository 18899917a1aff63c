"""EmbedDistillLoss: pull the student's embeddings onto a teacher's (cosine, L2 or MSE), optionally projected."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import choice, integer_at_least

DistillDistance = Literal["cosine", "l2", "mse"]
DISTILL_DISTANCES: tuple[str, ...] = ("cosine", "l2", "mse")


class EmbedDistillLoss(EmbeddingLoss):
    """Distance between each column's student embeddings and the teacher embeddings given as labels.

    Per column: ``"cosine"`` is ``mean(1 - cos(student, teacher))`` (scale-free, bounded),
    ``"l2"`` the mean Euclidean distance (the paper's choice), ``"mse"`` the mean squared error
    over all entries (then the loss equals :class:`MSELoss`). With several columns the loss is the
    mean over columns. With ``projection_dim`` a trainable linear map (held by the loss, trained
    alongside the model, not saved with it) takes the student's embeddings into a teacher space of
    another size.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (the student).
        distance: ``"cosine"`` (default), ``"l2"`` or ``"mse"``.
        projection_dim: the teacher's dimension when it differs from the student's (adds
            ``nn.Linear(model.embedding_dim, projection_dim)``); ``None`` (default): no projection.

    Inputs:
        ===================  ==========================================================================
        columns              label
        ===================  ==========================================================================
        (text_1, ...)        teacher embeddings: ``(batch, dim)`` shared by every column, or
                             ``(batch, columns, dim)``, one per column; ``dim`` = ``projection_dim``
                             if set, else the student's dimension
        ===================  ==========================================================================

        Compute the teacher embeddings once beforehand (with the teacher's own prompts); they are
        treated as constants.

    Reference:
        Kim et al., "EmbedDistill: A Geometric Knowledge Distillation for Information Retrieval",
        2023, https://arxiv.org/abs/2301.12005.

    Relations:
        :class:`MSELoss` is the ``"mse"`` case without a projection (the multilingual recipe);
        :class:`DistillKLDivLoss` and :class:`MarginMSELoss` distil the teacher's scores instead of
        its embeddings.

    Example:
        A 384-dimensional student learning a 768-dimensional teacher's space::

            loss = losses.EmbedDistillLoss(student, distance="cosine", projection_dim=768)
            value = loss([student.tokenize(texts)], teacher.encode(texts, convert_to="torch"))
            loss.save_projection("out/projection.safetensors")  # to continue in a later run
    """

    min_columns = 1
    max_columns = None
    columns = "(text_1, ..., text_n)"

    def __init__(
        self, model: SentenceEncoder, *, distance: DistillDistance = "cosine", projection_dim: int | None = None
    ) -> None:
        super().__init__(model)
        self.distance: DistillDistance = choice(self._name, "distance", distance, DISTILL_DISTANCES)  # type: ignore[assignment]
        self.projection_dim = (
            None if projection_dim is None else integer_at_least(self._name, "projection_dim", projection_dim, 1)
        )
        self.projection: nn.Linear | None = None
        if self.projection_dim is not None:
            device = next(model.parameters()).device
            self.projection = nn.Linear(_student_dim(model), self.projection_dim, device=device)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Mean over columns of the chosen distance between student (projected) and teacher embeddings."""
        embeddings = self._check(embeddings)
        if self.projection is not None:
            embeddings = [self.projection(e) for e in embeddings]
        teachers = self._teacher_columns(embeddings, labels)
        per_column = []
        for student, teacher in zip(embeddings, teachers, strict=True):
            if self.distance == "mse":
                per_column.append(F.mse_loss(student, teacher))
            elif self.distance == "l2":
                per_column.append(torch.linalg.vector_norm(student - teacher, ord=2, dim=-1).mean())
            else:
                per_column.append((1.0 - F.cosine_similarity(student, teacher, dim=-1)).mean())
        return torch.stack(per_column).mean()

    def _teacher_columns(self, embeddings: list[Tensor], labels: Tensor | None) -> list[Tensor]:
        rows, dim = embeddings[0].shape
        expected = f"teacher embeddings of shape ({rows}, {dim}) or ({rows}, {len(embeddings)}, {dim})"
        if labels is None:
            raise DataError(f"{self._name} needs labels ({expected}); got labels=None")
        if not isinstance(labels, Tensor) or not labels.is_floating_point():
            found = f"dtype {labels.dtype}" if isinstance(labels, Tensor) else type(labels).__name__
            raise DataError(f"{self._name} expects labels as a float tensor of {expected}, found {found}")
        if labels.shape == (rows, dim):
            teachers = [labels] * len(embeddings)
        elif labels.shape == (rows, len(embeddings), dim):
            teachers = list(labels.unbind(dim=1))
        else:
            hint = ""
            if labels.dim() in (2, 3) and labels.shape[0] == rows and self.projection is None:
                hint = f"; for a teacher of another dimension set projection_dim={labels.shape[-1]}"
            raise DataError(f"{self._name} expects {expected}, found {tuple(labels.shape)}{hint}")
        if not torch.isfinite(labels).all():
            raise DataError(f"{self._name}: the teacher embeddings contain NaN or infinite values")
        return [t.detach().to(device=embeddings[0].device, dtype=embeddings[0].dtype) for t in teachers]

    def save_projection(self, path: str | Path) -> None:
        """Write the projection's weights to a safetensors file (the trained model does not hold them).

        Raises:
            ConfigError: the loss has no projection (``projection_dim`` was not set).
        """
        if self.projection is None:
            raise ConfigError(f"{self._name} has no projection to save; build it with projection_dim=<teacher dim>")
        save_file({k: v.detach().contiguous().cpu() for k, v in self.projection.state_dict().items()}, str(path))

    def load_projection(self, path: str | Path) -> None:
        """Load weights written by :meth:`save_projection` (creating the projection if the loss has none).

        Raises:
            ConfigError: the file's shape does not fit the student's dimension or the configured projection.
        """
        state = load_file(str(path))
        if "weight" not in state or state["weight"].dim() != 2:
            raise ConfigError(f"{path}: not a projection written by save_projection (no 2-D 'weight')")
        out_features, in_features = state["weight"].shape
        student_dim = _student_dim(self.model)
        if in_features != student_dim:
            raise ConfigError(
                f"{path}: the projection takes {in_features}-dim embeddings but the student has {student_dim}"
            )
        if self.projection is None:
            device = next(self.model.parameters()).device
            self.projection = nn.Linear(in_features, out_features, bias="bias" in state, device=device)
            self.projection_dim = int(out_features)
        elif self.projection.weight.shape != state["weight"].shape:
            raise ConfigError(
                f"{path}: the projection maps {in_features} -> {out_features}, but this loss was built with "
                f"projection_dim={self.projection_dim}"
            )
        self.projection.load_state_dict(state)

    def get_config_dict(self) -> dict[str, Any]:
        """``distance`` and ``projection_dim``."""
        return {"distance": self.distance, "projection_dim": self.projection_dim}


def _student_dim(model: nn.Module) -> int:
    dim = getattr(model, "embedding_dim", None)
    if not isinstance(dim, int):
        raise ConfigError(f"projection_dim needs the student's embedding_dim; {type(model).__name__} does not give one")
    return dim
