"""SparseInformationRetrievalEvaluator: retrieval metrics of a sparse model, plus how sparse its vectors are."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from sbert_plugins.evaluation.base import check_positive_int
from sbert_plugins.evaluation.information_retrieval import InformationRetrievalEvaluator

if TYPE_CHECKING:
    from sbert_plugins.sparse import SparseEncoder


class SparseInformationRetrievalEvaluator(InformationRetrievalEvaluator):
    """:class:`InformationRetrievalEvaluator` for a :class:`~sbert_plugins.SparseEncoder`: the same ranking
    metrics (scored with the model's own similarity, dot or cosine) and five sparsity figures.

    Queries go through ``encode_queries`` (a Router's query route, e.g. the static side of an inference-free
    model) and documents through ``encode_documents``, as sparse tensors; scores are sparse products, so a
    corpus chunk never sits in memory as a dense ``(chunk, vocabulary)`` matrix.

    Args:
        queries, corpus, relevant_docs: as in :class:`InformationRetrievalEvaluator`.
        accuracy_at_k, precision_recall_at_k, mrr_at_k, ndcg_at_k, map_at_k, corpus_chunk_size, batch_size,
            query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name, show_progress, name, write_csv:
            as in :class:`InformationRetrievalEvaluator`.
        max_active_dims: keep at most this many non-zeros per vector (default: the model's own setting).

    Metrics: ``<fn>_accuracy@k`` ... ``<fn>_map@k`` as in the dense evaluator (``fn`` is the model's
    ``similarity_fn_name``), and ``query_active_dims`` / ``corpus_active_dims`` (average non-zeros per vector),
    ``query_sparsity_ratio`` / ``corpus_sparsity_ratio`` (``1 - active / dimensions``) and ``avg_flops`` (the
    expected number of multiplications of one query-document score: ``sum_j P(q_j != 0) * P(d_j != 0)``).
    Primary: ``<fn>_ndcg@<max ndcg k>``.

    Raises:
        ConfigError: as :class:`InformationRetrievalEvaluator`, or ``max_active_dims`` not a positive integer.
    """

    def __init__(
        self,
        queries: Mapping[Any, str],
        corpus: Mapping[Any, str],
        relevant_docs: Mapping[Any, Iterable[Any]],
        *,
        accuracy_at_k: Sequence[int] = (1, 3, 5, 10),
        precision_recall_at_k: Sequence[int] = (1, 3, 5, 10),
        mrr_at_k: Sequence[int] = (10,),
        ndcg_at_k: Sequence[int] = (10,),
        map_at_k: Sequence[int] = (100,),
        corpus_chunk_size: int = 50_000,
        batch_size: int = 32,
        max_active_dims: int | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(
            queries,
            corpus,
            relevant_docs,
            accuracy_at_k=accuracy_at_k,
            precision_recall_at_k=precision_recall_at_k,
            mrr_at_k=mrr_at_k,
            ndcg_at_k=ndcg_at_k,
            map_at_k=map_at_k,
            corpus_chunk_size=corpus_chunk_size,
            batch_size=batch_size,
            query_prompt=query_prompt,
            query_prompt_name=query_prompt_name,
            corpus_prompt=corpus_prompt,
            corpus_prompt_name=corpus_prompt_name,
            show_progress=show_progress,
            name=name,
            write_csv=write_csv,
        )
        self.csv_file = f"sparse_{self.csv_file}"
        self.max_active_dims = (
            None if max_active_dims is None else check_positive_int(max_active_dims, "max_active_dims")
        )
        self._stats: dict[str, _SparsityCounts] = {}
        self.primary_metric = f"dot_ndcg@{max(self.cutoffs.ndcg)}"

    def compute(self, model: SparseEncoder) -> dict[str, float]:  # type: ignore[override]
        """The ranking metrics and the sparsity figures of ``model`` on this evaluator's data."""
        self._stats = {"query": _SparsityCounts(), "document": _SparsityCounts()}
        metrics = super().compute(model)
        queries, documents = self._stats["query"], self._stats["document"]
        metrics.update(
            {
                "query_active_dims": queries.active_dims(),
                "query_sparsity_ratio": queries.sparsity_ratio(),
                "corpus_active_dims": documents.active_dims(),
                "corpus_sparsity_ratio": documents.sparsity_ratio(),
                "avg_flops": float(np.dot(queries.dimension_rates(), documents.dimension_rates())),
            }
        )
        return metrics

    def embed(self, model: Any, texts: list[str], side: Literal["query", "document"]) -> Tensor:
        """``texts`` as a sparse ``(len(texts), dimensions)`` tensor from the model's query or document side;
        their non-zeros are counted for the sparsity figures."""
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "max_active_dims": self.max_active_dims,
            "convert_to_sparse_tensor": True,
            "show_progress_bar": self.show_progress,
        }
        if side == "query":
            prompt, prompt_name = self.query_prompt, self.query_prompt_name
        else:
            prompt, prompt_name = self.corpus_prompt, self.corpus_prompt_name
        if prompt is not None or prompt_name is not None:
            embeddings = model.encode(texts, task=side, prompt=prompt, prompt_name=prompt_name, **options)
        elif side == "query":
            embeddings = model.encode_queries(texts, **options)
        else:
            embeddings = model.encode_documents(texts, **options)
        self._stats[side].add(embeddings)
        return embeddings  # type: ignore[no-any-return]

    def score(self, model: Any, fn: str, queries: Tensor, documents: Tensor) -> np.ndarray:
        """The model's own scores (``model.similarity``, dot or cosine) of every query with every document."""
        del fn  # always the model's similarity_fn_name: the evaluator takes no other
        return model.similarity(queries, documents).cpu().numpy()  # type: ignore[no-any-return]


class _SparsityCounts:
    """Running counts of one side's vectors: rows, non-zeros, and rows that use each dimension."""

    def __init__(self) -> None:
        self.rows = 0
        self.non_zeros = 0
        self.per_dimension: Tensor | None = None

    def add(self, embeddings: Tensor) -> None:
        if embeddings.is_sparse:
            coalesced = embeddings.coalesce()
            kept = coalesced.values() != 0
            dimensions = coalesced.indices()[1][kept]
        else:
            dimensions = (embeddings != 0).nonzero()[:, 1]
        counts = torch.bincount(dimensions.cpu(), minlength=int(embeddings.shape[1])).double()
        self.per_dimension = counts if self.per_dimension is None else self.per_dimension + counts
        self.rows += int(embeddings.shape[0])
        self.non_zeros += int(dimensions.numel())

    def active_dims(self) -> float:
        """Average non-zeros per vector."""
        return self.non_zeros / self.rows if self.rows else 0.0

    def sparsity_ratio(self) -> float:
        """``1 - active_dims / dimensions``."""
        if self.per_dimension is None:
            return 0.0
        return 1.0 - self.active_dims() / int(self.per_dimension.numel())

    def dimension_rates(self) -> np.ndarray:
        """For each dimension, the share of vectors in which it is non-zero."""
        if self.per_dimension is None or not self.rows:
            return np.zeros(0)
        return (self.per_dimension / self.rows).numpy()
