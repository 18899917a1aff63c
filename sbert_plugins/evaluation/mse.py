"""MSEEvaluator: distance of a student's embeddings from a teacher's (knowledge distillation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    Evaluator,
    check_positive_int,
    check_same_length,
    check_texts,
    check_truncate_dim,
    encode_texts,
)

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder


class MSEEvaluator(Evaluator):
    """Mean squared error x 100 between the student's embeddings of ``target_sentences`` and fixed
    teacher embeddings (e.g. of the English originals when the targets are translations).

    Args:
        target_sentences: the texts the evaluated (student) model embeds.
        teacher_embeddings: array ``(len(target_sentences), dim)`` to compare against; build it from a
            teacher model with :meth:`from_teacher`.
        batch_size, truncate_dim, show_progress: passed to ``model.encode``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics: ``negative_mse`` (= -100 x MSE, so that greater is better; primary).

    Raises:
        ConfigError: empty or mismatched inputs, teacher embeddings not 2-D or not finite; at call time,
            a student embedding dimension that differs from the teacher's.
    """

    def __init__(
        self,
        target_sentences: Sequence[str],
        teacher_embeddings: Any,
        *,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="mse_evaluation")
        self.target_sentences = check_texts(target_sentences, "target_sentences")
        teacher = np.asarray(teacher_embeddings, dtype=np.float32)
        if teacher.ndim != 2:
            raise ConfigError(f"teacher_embeddings must be 2-D (texts x dim), found shape {teacher.shape}")
        if not np.isfinite(teacher).all():
            raise ConfigError("teacher_embeddings hold NaN or infinite values")
        check_same_length(target_sentences=self.target_sentences, teacher_embeddings=teacher)
        self.teacher_embeddings = teacher
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.show_progress = show_progress
        self.primary_metric = "negative_mse"

    @classmethod
    def from_teacher(
        cls,
        teacher: SentenceEncoder,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        **kwargs: Any,
    ) -> MSEEvaluator:
        """Embed ``source_sentences`` with ``teacher`` once, and compare the student's ``target_sentences`` to them.

        ``kwargs`` are the constructor's (``batch_size`` and ``truncate_dim`` also apply to the teacher).
        """
        sources = check_texts(source_sentences, "source_sentences")
        check_same_length(source_sentences=sources, target_sentences=list(target_sentences))
        embeddings = encode_texts(
            teacher,
            sources,
            batch_size=check_positive_int(kwargs.get("batch_size", 32), "batch_size"),
            truncate_dim=check_truncate_dim(kwargs.get("truncate_dim")),
            show_progress=bool(kwargs.get("show_progress", False)),
        )
        return cls(target_sentences, embeddings, **kwargs)

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        student = encode_texts(
            model,
            self.target_sentences,
            batch_size=self.batch_size,
            truncate_dim=self.truncate_dim,
            show_progress=self.show_progress,
        )
        if student.shape != self.teacher_embeddings.shape:
            raise ConfigError(
                f"student embeddings have shape {student.shape} but the teacher's have "
                f"{self.teacher_embeddings.shape}; use truncate_dim or a student of the teacher's dimension"
            )
        mse = float(((self.teacher_embeddings - student) ** 2).mean()) * 100
        return {"negative_mse": -mse}
