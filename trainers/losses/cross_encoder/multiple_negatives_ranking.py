"""MultipleNegativesRankingLoss (cross-encoder): rank each query's positive above documents of other rows."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._checks import integer_at_least, positive_number
from trainers.losses.cross_encoder._base import CrossEncoderLoss, LogitActivation, activate


class MultipleNegativesRankingLoss(CrossEncoderLoss):
    """Cross-entropy over one positive and several negatives per query, the negatives borrowed from the
    other rows of the batch (plus the row's own hard negatives, if given).

    For query ``i`` the candidates are its positive, ``num_negatives`` documents drawn at random from the
    other rows (their positives and hard negatives), and its own hard negatives; each (query, candidate)
    pair is scored by the cross-encoder, and the loss is ``-log softmax(scale * activation(scores))[0]``,
    averaged over queries. Unlike the bi-encoder form every candidate costs a forward pass, hence the sample.

    With ``first_stage`` (a frozen bi-encoder) each candidate's score gains
    ``first_stage_scale * cosine(first_stage(query), first_stage(candidate))``, so the cross-encoder learns
    a correction of the first stage's order rather than an order of its own: a cross-encoder trained on
    little data is often worse than the bi-encoder that found its candidates, and as a correction it only
    has to learn where the bi-encoder goes wrong. Its scores alone then rank poorly; re-rank with both, e.g.
    :func:`~sbert_plugins.cross_encoder.fuse_scores` at a weight tuned on validation queries.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained (``num_labels=1``).
        num_negatives: in-batch negatives sampled per query (default 4); ``None`` uses all of them.
        scale: multiplies the activated scores before the softmax (default 10; > 0).
        activation: applied to the logits first: ``"sigmoid"`` (default), ``"identity"``, ``"tanh"``.
        first_stage: a :class:`~sbert_plugins.SentenceEncoder` whose cosine scores are added (not trained);
            ``None`` (default) trains the cross-encoder alone.
        first_stage_scale: multiplies the first stage's cosines (default 20, the scale bi-encoders are
            usually trained with; > 0).

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (query, positive)                                none (ignored if given)
        (query, positive, negative_1, ..., negative_n)   none (ignored if given)
        ===============================================  =======================

        A text repeated within a batch becomes a false negative: batch with the no-duplicates sampler.

    Reference:
        Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply", 2017,
        https://arxiv.org/abs/1705.00652.

    Relations:
        With labelled (query, document) pairs use :class:`BinaryCrossEntropyLoss`; with graded lists per
        query use :class:`LambdaLoss` or :class:`ListNetLoss`. The bi-encoder form is
        :class:`trainers.losses.MultipleNegativesRankingLoss`.

    Example:
        ::

            loss = MultipleNegativesRankingLoss(model, num_negatives=4)
            value = loss([queries, positives, hard_negatives], None)
    """

    max_columns = None
    columns = "(query, positive[, negative_1, ..., negative_n])"
    first_stage: SentenceEncoder | None

    def __init__(
        self,
        model: CrossEncoder,
        *,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation: LogitActivation = "sigmoid",
        first_stage: SentenceEncoder | None = None,
        first_stage_scale: float = 20.0,
    ) -> None:
        super().__init__(model, activation=activation)
        if first_stage is not None and not isinstance(first_stage, SentenceEncoder):
            raise TypeError(f"first_stage must be a SentenceEncoder or None, found {type(first_stage).__name__}")
        # Stored past nn.Module's registration: the first stage is not trained, checkpointed or wrapped by DDP.
        self.__dict__["first_stage"] = first_stage
        self.first_stage_scale = positive_number(self._name, "first_stage_scale", first_stage_scale)
        self.num_negatives = (
            None if num_negatives is None else integer_at_least(self._name, "num_negatives", num_negatives, 1)
        )
        self.scale = positive_number(self._name, "scale", scale)

    def forward(self, texts: list[list[str]], labels: Tensor | None = None) -> Tensor:
        """Score each query against its positive, sampled in-batch negatives and hard negatives.

        Raises:
            DataError: fewer than two text columns, or a non-string text.
        """
        columns = self.check_columns(texts)
        queries = columns[0]
        batch = len(queries)
        candidates = [columns[1], *self.in_batch_negatives(columns[1:]), *columns[2:]]
        pairs = [(query, doc) for column in candidates for query, doc in zip(queries, column, strict=True)]
        logits = self.score_pairs(pairs, batch)
        with self.float32():
            prior = None if self.first_stage is None else self.first_stage_cosines(queries, candidates)
            return self.compute_loss_from_logits(logits.float().reshape(len(candidates), batch).T, prior)

    def first_stage_cosines(self, queries: list[str], candidates: list[list[str]]) -> Tensor:
        """``(batch, candidates)`` cosines of the first stage between each query and its candidates, without
        gradients; each distinct text is embedded once."""
        if self.first_stage is None:
            raise RuntimeError("first_stage_cosines needs a first_stage encoder")
        documents = list(dict.fromkeys(doc for column in candidates for doc in column))
        # The encoder warns about every batch of long texts; here that would repeat at each step, and the
        # first stage truncates them the same way when it retrieves.
        with torch.no_grad(), _quiet(logging.getLogger("sbert_plugins.encoder")):
            query_embeddings = self.first_stage.encode_queries(
                queries, normalize=True, convert_to="torch", show_progress=False
            )
            document_embeddings = self.first_stage.encode_documents(
                documents, normalize=True, convert_to="torch", show_progress=False
            )
        position = {doc: i for i, doc in enumerate(documents)}
        index = torch.tensor([[position[doc] for doc in column] for column in candidates]).T
        chosen = document_embeddings.float()[index.to(document_embeddings.device)]  # (batch, candidates, dim)
        cosines = torch.einsum("bd,bcd->bc", query_embeddings.float(), chosen)
        return cosines.to(self.model.device)

    def in_batch_negatives(self, documents: list[list[str]]) -> list[list[str]]:
        """Columns of negatives: entry ``[j][i]`` is a document of another row than ``i``.

        ``documents`` are the positive and hard-negative columns; with ``num_negatives`` set (and fewer than
        available) each row draws that many without replacement, else every other row's documents are used.
        """
        batch, count = len(documents[0]), len(documents)
        flat = [doc for column in documents for doc in column]
        # A document of row r sits at flat index c * batch + r: mask out the row's own documents.
        allowed = ~torch.eye(batch, dtype=torch.bool).repeat(1, count)
        available = len(flat) - count
        if self.num_negatives is not None and self.num_negatives < available:
            chosen = torch.multinomial(allowed.float(), self.num_negatives)
        else:
            chosen = torch.arange(batch * count).repeat(batch, 1)[allowed].reshape(batch, -1)
        return [[flat[int(i)] for i in column] for column in chosen.T]

    def compute_loss_from_logits(self, logits: Tensor, first_stage: Tensor | None = None) -> Tensor:
        """Mean cross-entropy with the positive as the target, from raw logits ``(batch, candidates)`` whose
        first column is the positive, plus ``first_stage_scale`` times the first stage's cosines of the same
        pairs when given."""
        scores = activate(logits, self.activation) * self.scale
        if first_stage is not None:
            scores = scores + self.first_stage_scale * first_stage
        targets = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        return F.cross_entropy(scores, targets)

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "num_negatives": self.num_negatives,
            "scale": self.scale,
            "activation": self.activation,
        }
        if self.first_stage is not None:
            config["first_stage_scale"] = self.first_stage_scale
        return config


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
