"""CSRLoss: train a CSR model (dense encoder + sparse auto-encoder) on a task loss plus its reconstruction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from trainers.losses._base import EmbeddingLoss, features_to_device
from trainers.losses._checks import non_negative_number
from trainers.losses._feature_checks import check_feature_columns
from trainers.losses._wrapping import describe_inner, resolve_inner
from trainers.losses.sparse._wrapped_only import check_sparse_model
from trainers.losses.sparse.csr_reconstruction import CSRReconstructionLoss


class CSRLoss(nn.Module):
    """``reconstruction terms (beta) + gamma * loss(sparse embeddings)`` for Contrastive Sparse Representation.

    A CSR model is a dense sentence encoder followed by a SparseAutoEncoder that keeps the top ``k`` of its
    latents. The reconstruction terms (:class:`CSRReconstructionLoss`) keep the latents faithful to the
    dense embedding; the task loss (by default :class:`SparseMultipleNegativesRankingLoss`) makes the sparse
    codes good for retrieval.

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained, ending in a SparseAutoEncoder.
        loss: the task loss built on ``model``, or the name of a sparse task loss (built with
            ``loss_kwargs``); None (default): ``SparseMultipleNegativesRankingLoss(model)``.
        loss_kwargs: keyword arguments of the named loss (only with a name).
        beta: weight of the auxiliary reconstruction term; >= 0, default 0.1.
        gamma: weight of the task loss; >= 0, default 1.

    Inputs:
        Those of the task loss (columns and labels).

    Reference:
        Wen et al., "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation", ICML 2025,
        https://arxiv.org/abs/2503.01776.

    Relations:
        :class:`SpladeLoss` trains SPLADE (MLM-head) sparse models instead.

    Example:
        ::

            loss = losses.CSRLoss(model, losses.SparseMultipleNegativesRankingLoss(model), beta=0.1, gamma=1.0)
            value = loss([model.tokenize(queries), model.tokenize(documents)], None)
    """

    sparse = True

    def __init__(
        self,
        model: nn.Module,
        loss: EmbeddingLoss | str | None = None,
        *,
        loss_kwargs: Mapping[str, Any] | None = None,
        beta: float = 0.1,
        gamma: float = 1.0,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        check_sparse_model(owner, model)
        self.model = model
        self.beta = non_negative_number(owner, "beta", beta)
        self.gamma = non_negative_number(owner, "gamma", gamma)
        self.reconstruction_loss = CSRReconstructionLoss(model, beta=self.beta)
        if loss is None and loss_kwargs is None:
            loss = "SparseMultipleNegativesRankingLoss"
        self.loss = resolve_inner(owner, model, loss, loss_kwargs, names="SPARSE_TASK_LOSSES")  # type: ignore[arg-type]
        self.min_columns = self.loss.min_columns
        self.max_columns = self.loss.max_columns
        self.columns = self.loss.columns

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Run the model on each column and return the scalar loss (the sum of :meth:`compute_loss_components`).

        Raises:
            DataError: wrong columns or labels, or a model that does not end in a SparseAutoEncoder.
        """
        check_feature_columns(
            type(self).__name__, features, minimum=self.min_columns, maximum=self.max_columns, columns=self.columns
        )
        device = next(self.model.parameters()).device
        outputs = [self.model(features_to_device(column, device)) for column in features]
        with torch.autocast(device_type=device.type, enabled=False):
            total, *others = self.compute_loss_components(outputs, labels).values()
            for term in others:
                total = total + term
            return total

    def compute_loss_components(self, outputs: Sequence[Mapping[str, Any]], labels: Tensor | None) -> dict[str, Tensor]:
        """The reconstruction terms and ``base_loss`` (the task loss times ``gamma``), from the model's outputs."""
        components = self.reconstruction_loss.compute_loss_components(outputs)
        embeddings = [output["sentence_embedding"].float() for output in outputs]
        components["base_loss"] = self.loss.compute_loss_from_embeddings(embeddings, labels) * self.gamma
        return components

    def get_config_dict(self) -> dict[str, Any]:
        """The task loss (name and config), ``beta`` and ``gamma``."""
        return {**describe_inner(self.loss), "beta": self.beta, "gamma": self.gamma}
