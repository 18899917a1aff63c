"""What the listwise losses share: reading a batch of (query, [documents]) lists with graded labels, in
either of two layouts, scoring every (query, document) pair, and padding the scores into a matrix."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from sbert_plugins.errors import DataError
from trainers.losses.cross_encoder._base import CrossEncoderLoss, activate

LISTWISE_INPUTS = """
        ===================================================  ================================================
        columns                                              label
        ===================================================  ================================================
        (query, document_1, ..., document_n)                 ``(batch, n)`` graded relevance, one per document
        (queries, document lists) [reference layout]         a list with one 1-D tensor (or list) per query,
                                                             as long as that query's document list
        ===================================================  ================================================

        The first layout is what the trainer's rows give (``{"query", "doc_1", ..., "doc_n", "label": [..]}``);
        the second lets each query have its own number of documents. Relevance is a finite float, higher is
        better (e.g. 1 relevant / 0 not, or graded 0-3)."""


class ListwiseLoss(CrossEncoderLoss):
    """Base of the listwise losses: ``forward`` builds ``(scores, labels, mask)`` matrices of shape
    ``(queries, longest list)`` and calls :meth:`compute_loss_from_scores`."""

    min_columns = 2
    max_columns = None
    columns = "(query, document_1, ..., document_n)"

    def forward(self, texts: Any, labels: Any = None) -> Tensor:
        """Score every (query, document) pair of the batch and return the scalar loss.

        Raises:
            DataError: the columns or labels match neither layout (the message names the faulty row).
        """
        queries, documents, relevance = self._read_lists(texts, labels)
        pairs = [(query, doc) for query, docs in zip(queries, documents, strict=True) for doc in docs]
        logits = self.score_pairs(pairs, len(queries)).reshape(-1)
        with self.float32():
            scores = activate(logits.float(), self.activation)
            lengths = [len(docs) for docs in documents]
            mask = _mask(lengths, scores.device)
            score_matrix = torch.zeros(mask.shape, device=scores.device).masked_scatter(mask, scores)
            label_matrix = torch.zeros(mask.shape, device=scores.device)
            label_matrix[mask] = torch.cat(relevance).to(scores.device)
            return self.compute_loss_from_scores(score_matrix, label_matrix, mask)

    @abstractmethod
    def compute_loss_from_scores(self, scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """The scalar loss from ``(queries, max_documents)`` matrices of activated scores and relevance labels;
        ``mask`` marks the real documents (the rest is padding, whatever its values)."""

    def _read_lists(self, texts: Any, labels: Any) -> tuple[list[str], list[list[str]], list[Tensor]]:
        nested = (
            isinstance(texts, Sequence)
            and len(texts) == 2
            and isinstance(texts[1], Sequence)
            and any(isinstance(item, (list, tuple)) for item in texts[1])
        )
        if nested:
            queries = self.string_column(0, texts[0])
            documents = [self._document_list(row, docs) for row, docs in enumerate(texts[1])]
            if len(queries) != len(documents) or not queries:
                raise DataError(
                    f"{self._name}: expected one document list per query, found {len(queries)} queries and "
                    f"{len(documents)} document lists"
                )
        else:
            columns = self.check_columns(texts)
            queries = columns[0]
            documents = [list(row) for row in zip(*columns[1:], strict=True)]
        return queries, documents, self._relevance(labels, [len(d) for d in documents])

    def _document_list(self, row: int, docs: Any) -> list[str]:
        if isinstance(docs, (str, bytes)) or not isinstance(docs, Sequence) or not docs:
            raise DataError(f"{self._name}: the documents of query {row} must be a non-empty list of strings")
        for index, doc in enumerate(docs):
            if not isinstance(doc, str):
                raise DataError(f"{self._name}: document {index} of query {row} is {type(doc).__name__}, expected str")
        return list(docs)

    def _relevance(self, labels: Any, lengths: list[int]) -> list[Tensor]:
        expected = f"one relevance label per document: {len(lengths)} rows of lengths {lengths}"
        if labels is None:
            raise DataError(f"{self._name} needs labels ({expected}); got labels=None")
        if isinstance(labels, Tensor):
            if labels.dim() == 1 and set(lengths) == {1}:
                labels = labels.unsqueeze(1)
            if labels.dim() != 2 or labels.shape[0] != len(lengths):
                raise DataError(f"{self._name} expects {expected}, found a tensor of shape {tuple(labels.shape)}")
            rows = list(labels.unbind(0))
        elif isinstance(labels, Sequence) and not isinstance(labels, (str, bytes)):
            rows = [torch.as_tensor(row) for row in labels]
        else:
            raise DataError(f"{self._name} expects {expected}, found {type(labels).__name__}")
        if len(rows) != len(lengths):
            raise DataError(f"{self._name} expects {expected}, found {len(rows)} rows of labels")
        result = []
        for index, (row, length) in enumerate(zip(rows, lengths, strict=True)):
            row = row.reshape(-1).float()
            if row.numel() != length:
                raise DataError(
                    f"{self._name}: query {index} has {length} documents but {row.numel()} labels"
                    + (" (the label has one entry per document column)" if isinstance(labels, Tensor) else "")
                )
            if not torch.isfinite(row).all():
                raise DataError(f"{self._name}: the labels of query {index} are not all finite: {row.tolist()}")
            result.append(row)
        return result


def _mask(lengths: list[int], device: torch.device) -> Tensor:
    longest = max(lengths)
    return torch.arange(longest, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]
