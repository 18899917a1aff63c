"""SparseMSELoss: regress a sparse student's embeddings onto a teacher's."""

from __future__ import annotations

from torch import nn

from trainers.losses.mse import MSELoss


class SparseMSELoss(MSELoss):
    """:class:`~trainers.losses.MSELoss` for a sparse model: MSE between each column's embeddings and the teacher's.

    Unlike the other sparse task losses it also runs alone (as in the reference): matching a sparse
    teacher's vectors keeps the student as sparse as the teacher.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained (the student).

    Inputs:
        ===================  ==========================================================================
        columns              label
        ===================  ==========================================================================
        (text_1, ...)        teacher embeddings: ``(batch, dim)`` shared by every column, or
                             ``(batch, columns, dim)``; ``dim`` = the student's (its vocabulary size)
        ===================  ==========================================================================

    Reference:
        Reimers & Gurevych, "Making Monolingual Sentence Embeddings Multilingual using Knowledge
        Distillation", EMNLP 2020, https://arxiv.org/abs/2004.09813.

    Relations:
        :class:`SparseMarginMSELoss` distils a teacher's scores instead of its vectors.

    Example:
        ::

            teacher_vectors = teacher.encode(texts).to_dense()
            loss = losses.SparseMSELoss(student)
            value = loss([student.tokenize(texts)], teacher_vectors)
    """

    sparse = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)  # type: ignore[arg-type]
