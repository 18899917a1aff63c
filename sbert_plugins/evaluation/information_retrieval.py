"""InformationRetrievalEvaluator: retrieve from a corpus for each query and score the ranking."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from torch import Tensor

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    Evaluator,
    SimilarityName,
    check_cutoffs,
    check_positive_int,
    check_similarity_names,
    check_truncate_dim,
    encode_texts,
    similarity_names_for,
)
from sbert_plugins.evaluation.metrics import RetrievalCutoffs, retrieval_metrics
from sbert_plugins.similarity import similarity_function

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

logger = logging.getLogger(__name__)

Id = str | int


class InformationRetrievalEvaluator(Evaluator):
    """Embed queries (query prompt) and corpus (document prompt, chunk by chunk), rank the corpus for
    each query by similarity, and report accuracy, precision, recall, MRR, nDCG and MAP at cut-offs.

    Args:
        queries: query id -> text. Only queries with at least one relevant document are evaluated.
        corpus: document id -> text.
        relevant_docs: query id -> the ids of its relevant documents (binary relevance).
        accuracy_at_k, precision_recall_at_k, mrr_at_k, ndcg_at_k, map_at_k: the cut-offs k (positive).
        similarity_fn_names: the similarity functions to rank by; default: the model's own.
        main_similarity: the function whose nDCG@(largest k) is primary; default: the best one.
        corpus_chunk_size: documents embedded and scored at a time (bounds memory).
        query_prompt, query_prompt_name, corpus_prompt, corpus_prompt_name: override the model's
            ``"query"`` / ``"document"`` prompts, which apply by default (``encode_queries`` / ``encode_documents``).
        batch_size, truncate_dim, show_progress: passed to ``model.encode``.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics, per similarity function ``fn``: ``<fn>_accuracy@k``, ``<fn>_precision@k``, ``<fn>_recall@k``,
    ``<fn>_mrr@k``, ``<fn>_ndcg@k``, ``<fn>_map@k``. Primary: ``<fn>_ndcg@<max ndcg k>``.
    Documents with equal scores are ranked by ascending id, so results do not depend on the chunk size.

    Raises:
        ConfigError: empty queries or corpus, no query with a relevant document, a non-string text,
            a bad cut-off (k <= 0), ids that cannot be ordered, an unknown similarity name.
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
        similarity_fn_names: Sequence[SimilarityName] | None = None,
        main_similarity: SimilarityName | None = None,
        corpus_chunk_size: int = 50_000,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="information_retrieval_evaluation")
        self.cutoffs = RetrievalCutoffs(
            accuracy=check_cutoffs(accuracy_at_k, "accuracy_at_k"),
            precision_recall=check_cutoffs(precision_recall_at_k, "precision_recall_at_k"),
            mrr=check_cutoffs(mrr_at_k, "mrr_at_k"),
            ndcg=check_cutoffs(ndcg_at_k, "ndcg_at_k"),
            map=check_cutoffs(map_at_k, "map_at_k"),
        )
        self.corpus_ids, self.corpus = _check_id_texts(corpus, "corpus")
        all_queries = dict(zip(*_check_id_texts(queries, "queries"), strict=True))
        if not isinstance(relevant_docs, Mapping):
            raise ConfigError(
                f"relevant_docs must be a mapping of query id -> document ids, found {type(relevant_docs).__name__}"
            )
        self.relevant_docs: dict[Id, frozenset[Id]] = {}
        for qid, doc_ids in relevant_docs.items():
            if isinstance(doc_ids, (str, bytes, int)) or not isinstance(doc_ids, Iterable):
                raise ConfigError(f"relevant_docs[{qid!r}] must be a set or list of document ids, found {doc_ids!r}")
            self.relevant_docs[qid] = frozenset(doc_ids)
        self.query_ids = [qid for qid in all_queries if self.relevant_docs.get(qid)]
        if not self.query_ids:
            raise ConfigError(
                "no query has a relevant document: relevant_docs keys must be query ids of `queries` "
                "(check that both use the same id type, e.g. str)"
            )
        self.queries = [all_queries[qid] for qid in self.query_ids]
        known = set(self.corpus_ids)
        unknown = {d for qid in self.query_ids for d in self.relevant_docs[qid] if d not in known}
        if unknown:
            logger.warning("%d relevant document ids are not in the corpus, e.g. %r", len(unknown), next(iter(unknown)))
        try:
            by_id = sorted(range(len(self.corpus_ids)), key=self.corpus_ids.__getitem__)
        except TypeError as exc:
            raise ConfigError("corpus ids must all be of one type (all str or all int) so ties can be ordered") from exc
        self._tie_rank = np.empty(len(by_id), dtype=np.int64)
        self._tie_rank[by_id] = np.arange(len(by_id))

        self.similarity_fn_names = check_similarity_names(similarity_fn_names, main_similarity=main_similarity)
        self.main_similarity = main_similarity
        self.corpus_chunk_size = check_positive_int(corpus_chunk_size, "corpus_chunk_size")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.query_prompt, self.query_prompt_name = query_prompt, query_prompt_name
        self.corpus_prompt, self.corpus_prompt_name = corpus_prompt, corpus_prompt_name
        self.show_progress = show_progress
        first = main_similarity or (self.similarity_fn_names or ["cosine"])[0]
        self.primary_metric = f"{first}_ndcg@{max(self.cutoffs.ndcg)}"

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        names = similarity_names_for(model, self.similarity_fn_names)
        query_embeddings = self.embed(model, self.queries, "query")
        top = {fn: _RunningTopK(len(self.queries), self.cutoffs.max_k) for fn in names}
        for start in range(0, len(self.corpus), self.corpus_chunk_size):
            chunk = self.corpus[start : start + self.corpus_chunk_size]
            corpus_embeddings = self.embed(model, chunk, "document")
            tie_rank = self._tie_rank[start : start + len(chunk)]
            for fn in names:
                top[fn].update(self.score(model, fn, query_embeddings, corpus_embeddings), start, tie_rank)
        relevant = [self.relevant_docs[qid] for qid in self.query_ids]
        metrics: dict[str, float] = {}
        for fn in names:
            ranked = [[self.corpus_ids[i] for i in row] for row in top[fn].indices()]
            metrics.update(
                {f"{fn}_{key}": value for key, value in retrieval_metrics(ranked, relevant, self.cutoffs).items()}
            )
        ndcg_key = f"ndcg@{max(self.cutoffs.ndcg)}"
        primary: str = self.main_similarity or max(names, key=lambda fn: metrics[f"{fn}_{ndcg_key}"])
        self.primary_metric = f"{primary}_{ndcg_key}"
        return metrics

    def embed(self, model: Any, texts: list[str], side: Literal["query", "document"]) -> Tensor:
        """``texts`` embedded on the query or document side (with this evaluator's prompts), as a torch tensor."""
        if side == "query":
            prompt, prompt_name = self.query_prompt, self.query_prompt_name
        else:
            prompt, prompt_name = self.corpus_prompt, self.corpus_prompt_name
        return encode_texts(  # type: ignore[no-any-return]
            model,
            texts,
            side=side,
            prompt=prompt,
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            truncate_dim=self.truncate_dim,
            show_progress=self.show_progress,
            convert_to="torch",
        )

    def score(self, model: Any, fn: str, queries: Tensor, documents: Tensor) -> np.ndarray:
        """The ``(queries, documents)`` similarity matrix under the function named ``fn`` (``model`` unused here)."""
        del model
        return similarity_function(fn)(queries, documents).cpu().numpy()  # type: ignore[no-any-return]


class _RunningTopK:
    """The best ``k`` corpus positions per query so far, ordered by (score desc, id rank asc)."""

    def __init__(self, n_queries: int, k: int) -> None:
        self.k = k
        self.scores = np.full((n_queries, 0), -np.inf, dtype=np.float64)
        self.ranks = np.zeros((n_queries, 0), dtype=np.int64)
        self.positions = np.zeros((n_queries, 0), dtype=np.int64)

    def update(self, scores: np.ndarray, offset: int, tie_rank: np.ndarray) -> None:
        k = min(self.k, scores.shape[1])
        chosen = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        chosen_scores = np.take_along_axis(scores, chosen, axis=1)
        # argpartition splits ties at the k-th score arbitrarily: redo such rows under the total order.
        threshold = chosen_scores.min(axis=1, keepdims=True)
        for row in np.flatnonzero((scores >= threshold).sum(axis=1) > k):
            candidates = np.flatnonzero(scores[row] >= threshold[row])
            order = np.lexsort((tie_rank[candidates], -scores[row, candidates]))[:k]
            chosen[row] = candidates[order]
        chosen_scores = np.take_along_axis(scores, chosen, axis=1).astype(np.float64)
        all_scores = np.concatenate([self.scores, chosen_scores], axis=1)
        all_ranks = np.concatenate([self.ranks, tie_rank[chosen]], axis=1)
        all_positions = np.concatenate([self.positions, chosen + offset], axis=1)
        order = np.lexsort((all_ranks, -all_scores), axis=1)[:, : self.k]
        self.scores = np.take_along_axis(all_scores, order, axis=1)
        self.ranks = np.take_along_axis(all_ranks, order, axis=1)
        self.positions = np.take_along_axis(all_positions, order, axis=1)

    def indices(self) -> list[list[int]]:
        """Corpus positions per query, best first."""
        return self.positions.tolist()  # type: ignore[no-any-return]


def _check_id_texts(mapping: Any, argument: str) -> tuple[list[Id], list[str]]:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{argument} must be a mapping of id -> text, found {type(mapping).__name__}")
    if not mapping:
        raise ConfigError(f"{argument} is empty")
    ids: list[Id] = []
    texts: list[str] = []
    for key, text in mapping.items():
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise ConfigError(f"{argument} id {key!r} is {type(key).__name__}, expected str or int")
        if not isinstance(text, str):
            raise ConfigError(f"{argument}[{key!r}] is {type(text).__name__}, expected str")
        ids.append(key)
        texts.append(text)
    return ids, texts
