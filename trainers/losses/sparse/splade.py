"""SpladeLoss: a task loss on SPLADE vectors plus FLOPS regularisers that keep queries and documents sparse."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from sbert_plugins.errors import ConfigError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import flag, non_negative_number
from trainers.losses._wrapping import describe_inner, resolve_inner
from trainers.losses.sparse._wrapped_only import check_sparse_model
from trainers.losses.sparse.flops import FlopsLoss

logger = logging.getLogger(__name__)


class SpladeLoss(EmbeddingLoss):
    """``loss + document_regularizer_weight * reg(documents) + query_regularizer_weight * reg(queries)``.

    The model embeds every column once; the wrapped task loss scores those embeddings and the regularisers
    (:class:`FlopsLoss` by default) push the query column (the first) and the document columns (the others)
    towards few active vocabulary dimensions. The weights trade retrieval quality for index size and speed.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained.
        loss: the task loss, built on ``model`` (e.g. :class:`SparseMultipleNegativesRankingLoss`), or the
            name of a sparse task loss (then built with ``loss_kwargs``); any loss of :mod:`trainers.losses`
            that scores embeddings (not a wrapper) is accepted as an instance.
        loss_kwargs: keyword arguments of the named loss (only with a name).
        document_regularizer_weight: weight of the document term (``lambda_d``); >= 0, required. Applied to
            every column after the first (positives and negatives).
        query_regularizer_weight: weight of the query term (``lambda_q``); None (default) leaves queries
            unregularised, as suits an inference-free model, whose query side does not learn per text.
        document_regularizer, query_regularizer: modules to use instead of :class:`FlopsLoss`; they must
            have ``compute_loss_from_embeddings(embeddings: Tensor) -> Tensor``.
        document_regularizer_threshold, query_regularizer_threshold: the default FlopsLoss's ``threshold``
            (only rows with more active dimensions are regularised); not with a custom regulariser.
        use_document_regularizer_only: every column is a document (symmetric data such as pairs of
            sentences), all regularised together with ``document_regularizer_weight``.

    Inputs:
        Those of the wrapped loss (columns and labels); the first column holds the queries.

    Reference:
        Formal et al., "From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More
        Effective", SIGIR 2022, https://arxiv.org/abs/2205.04733; Formal et al., "SPLADE", 2021,
        https://arxiv.org/abs/2107.05720.

    Relations:
        :class:`CachedSpladeLoss` gives the same loss for batches larger than memory; :class:`CSRLoss`
        trains CSR (sparse auto-encoder) models instead of SPLADE ones.

    Example:
        ::

            loss = losses.SpladeLoss(
                model,
                losses.SparseMultipleNegativesRankingLoss(model),
                document_regularizer_weight=3e-5,
                query_regularizer_weight=5e-5,
            )
            value = loss([model.tokenize(queries), model.tokenize(documents)], None)
            parts = loss.compute_loss_components(embeddings, None)  # base_loss, *_regularizer_loss
    """

    sparse = True

    def __init__(
        self,
        model: nn.Module,
        loss: EmbeddingLoss | str,
        *,
        loss_kwargs: Mapping[str, Any] | None = None,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: float | None = None,
        query_regularizer_threshold: float | None = None,
        use_document_regularizer_only: bool = False,
    ) -> None:
        super().__init__(model)  # type: ignore[arg-type]
        owner = self._name
        check_sparse_model(owner, model)
        self.loss = resolve_inner(owner, model, loss, loss_kwargs, names="SPARSE_TASK_LOSSES")
        self.min_columns = self.loss.min_columns  # type: ignore[misc]
        self.max_columns = self.loss.max_columns  # type: ignore[misc]
        self.columns = self.loss.columns  # type: ignore[misc]
        self.document_regularizer_weight = non_negative_number(
            owner, "document_regularizer_weight", document_regularizer_weight
        )
        self.use_document_regularizer_only = flag(owner, "use_document_regularizer_only", use_document_regularizer_only)
        if self.use_document_regularizer_only and (query_regularizer_weight is not None or query_regularizer):
            raise ConfigError(
                f"{owner}: use_document_regularizer_only=True regularises every column as a document; drop "
                "query_regularizer_weight and query_regularizer (or set use_document_regularizer_only=False)"
            )
        self.query_regularizer_weight = (
            None
            if query_regularizer_weight is None
            else non_negative_number(owner, "query_regularizer_weight", query_regularizer_weight)
        )
        self.document_regularizer = _regularizer(
            owner, "document", model, document_regularizer, document_regularizer_threshold
        )
        self.query_regularizer = (
            None
            if self.use_document_regularizer_only
            else _regularizer(owner, "query", model, query_regularizer, query_regularizer_threshold)
        )
        unregularised = self.query_regularizer_weight is None and self.query_regularizer is not None
        if unregularised and not getattr(model, "is_inference_free", False):
            logger.warning(
                "%s: query_regularizer_weight is None, so queries are not regularised; that suits an "
                "inference-free model, otherwise give a weight > 0 (e.g. 5e-5)",
                owner,
            )

    def compute_loss_components(self, embeddings: list[Tensor], labels: Tensor | None = None) -> dict[str, Tensor]:
        """The three terms, weighted: ``base_loss``, ``document_regularizer_loss`` and (when a query weight is
        set) ``query_regularizer_loss``; their sum is the loss."""
        embeddings = self._check(embeddings)
        components = {"base_loss": self.loss.compute_loss_from_embeddings(embeddings, labels)}
        documents = embeddings if self.use_document_regularizer_only else embeddings[1:]
        # A regulariser is any module with compute_loss_from_embeddings (checked in __init__).
        document_term = self.document_regularizer.compute_loss_from_embeddings(torch.cat(documents))  # type: ignore[operator]
        components["document_regularizer_loss"] = document_term * self.document_regularizer_weight
        if self.query_regularizer is not None and self.query_regularizer_weight is not None:
            query_term = self.query_regularizer.compute_loss_from_embeddings(embeddings[0])  # type: ignore[operator]
            components["query_regularizer_loss"] = query_term * self.query_regularizer_weight
        return components

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The scalar loss: the sum of :meth:`compute_loss_components`."""
        total, *regularizers = self.compute_loss_components(embeddings, labels).values()
        for term in regularizers:
            total = total + term
        return total

    def get_config_dict(self) -> dict[str, Any]:
        """The inner loss (name and config), the weights, thresholds and ``use_document_regularizer_only``;
        a custom regulariser appears by class name."""
        config: dict[str, Any] = {
            **describe_inner(self.loss),
            "document_regularizer_weight": self.document_regularizer_weight,
            "query_regularizer_weight": self.query_regularizer_weight,
            "use_document_regularizer_only": self.use_document_regularizer_only,
        }
        for side, regularizer in (("document", self.document_regularizer), ("query", self.query_regularizer)):
            if regularizer is None:
                continue
            if isinstance(regularizer, FlopsLoss):
                config[f"{side}_regularizer_threshold"] = regularizer.threshold
            else:
                config[f"{side}_regularizer"] = type(regularizer).__name__
        return config


def _regularizer(
    owner: str, side: str, model: nn.Module, regularizer: nn.Module | None, threshold: float | None
) -> nn.Module:
    """The given regulariser (checked), or a FlopsLoss with ``threshold``."""
    if regularizer is None:
        return FlopsLoss(model, threshold=threshold)
    if threshold is not None:
        raise ConfigError(
            f"{owner}: {side}_regularizer_threshold only applies to the default FlopsLoss; give the threshold to "
            f"your {side}_regularizer instead"
        )
    computes = callable(getattr(regularizer, "compute_loss_from_embeddings", None))
    if not isinstance(regularizer, nn.Module) or not computes:
        raise ConfigError(
            f"{owner}: {side}_regularizer must be an nn.Module with compute_loss_from_embeddings(embeddings), "
            f"e.g. FlopsLoss(model); found {type(regularizer).__name__}"
        )
    return regularizer
