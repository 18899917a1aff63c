"""MatryoshkaLoss: a loss applied to several prefixes of the embedding, so truncated embeddings still work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._base import EmbeddingLoss, embed_columns
from trainers.losses._checks import integer_at_least, non_negative_number
from trainers.losses._gradcache import CachedEmbeddingLoss, check_features, side_inputs_of
from trainers.losses._wrapping import describe_inner, inner_value, resolve_inner


class MatryoshkaLoss(EmbeddingLoss):
    """The wrapped loss on the first ``d`` dimensions of each embedding (L2-normalised), for several ``d``.

    ``loss = sum_k weight_k * inner(normalize(embedding[:, :d_k]))``. The model is run once per batch; each
    dimension reuses its embeddings. After training, ``SentenceEncoder(..., truncate_dim=d_k)`` (or
    ``encode(..., truncate_dim=d_k)``) gives smaller embeddings that keep most of the quality.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        loss: the loss to apply at each dimension: a loss from :mod:`trainers.losses` built on ``model``, or
            the name of one (then built with ``loss_kwargs``), e.g. ``"MultipleNegativesRankingLoss"``.
        loss_kwargs: keyword arguments of the named loss (only with a name).
        matryoshka_dims: the prefix sizes, e.g. ``(384, 256, 128, 64)``; distinct integers from 1 to the
            model's embedding size. Include the full size, or the full embedding is not trained.
        matryoshka_weights: one weight >= 0 per dimension (default: all 1).
        n_dims_per_step: train a random subset of this many dimensions each step (default None: all).

    Inputs:
        Those of the wrapped loss (columns and labels). Teacher embeddings given as labels whose last axis
        has the model's embedding size (MSELoss) are truncated along with the embeddings.

    Reference:
        Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, https://arxiv.org/abs/2205.13147.

    Relations:
        :class:`Matryoshka2dLoss` also trains the earlier layers (:class:`AdaptiveLayerLoss`), for models that
        can be cut in depth as well as width. Wrapping a cached loss (``CachedMultipleNegativesRankingLoss``)
        keeps its mini-batch memory.

    Example:
        ::

            inner = losses.MultipleNegativesRankingLoss(model)
            loss = losses.MatryoshkaLoss(model, inner, matryoshka_dims=(384, 256, 128, 64, 32))
            # or, from JSON (the CLI's --loss-args):
            loss = losses.MatryoshkaLoss(model, "CoSENTLoss", matryoshka_dims=[384, 64])
    """

    def __init__(
        self,
        model: SentenceEncoder,
        loss: EmbeddingLoss | str,
        *,
        loss_kwargs: Mapping[str, Any] | None = None,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_dims_per_step: int | None = None,
    ) -> None:
        super().__init__(model)
        self.loss = resolve_inner(self._name, model, loss, loss_kwargs)
        dims = _check_dims(self._name, matryoshka_dims, getattr(model, "embedding_dim", None))
        weights = _check_weights(self._name, matryoshka_weights, len(dims))
        ordered = sorted(zip(dims, weights, strict=True), key=lambda pair: -pair[0])
        self.matryoshka_dims = tuple(d for d, _ in ordered)
        self.matryoshka_weights = tuple(w for _, w in ordered)
        if n_dims_per_step is not None:
            integer_at_least(self._name, "n_dims_per_step", n_dims_per_step, 1)
        self.n_dims_per_step = n_dims_per_step
        self.min_columns = self.loss.min_columns  # type: ignore[misc]
        self.max_columns = self.loss.max_columns  # type: ignore[misc]
        self.columns = self.loss.columns  # type: ignore[misc]

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed each column once and return the weighted sum of the wrapped loss at every chosen dimension.

        Raises:
            DataError: what the wrapped loss raises, or an embedding narrower than a dimension.
        """
        if isinstance(self.loss, CachedEmbeddingLoss) and self.loss.uses_gradcache:
            return self.loss.cached_forward(features, labels, self.loss_from_leaves)
        check_features(self, features)
        device = next(self.model.parameters()).device
        embeddings = embed_columns(self.model, features, device)
        side = self.side_inputs(features)
        with torch.autocast(device_type=device.type, enabled=False):
            return self.compute_loss_from_embeddings([e.float() for e in embeddings], labels, **side)

    def side_inputs(self, features: Sequence[Mapping[str, Tensor]]) -> dict[str, Any]:
        """What the wrapped loss needs besides the embeddings (e.g. GISTEmbedLoss's guide embeddings)."""
        return side_inputs_of(self.loss, features)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None, **side: Any
    ) -> Tensor:
        """The weighted sum over the chosen dimensions, from full-size embeddings (``side``: the inner's extras)."""
        return self.loss_from_leaves(embeddings, labels, side, False)

    def dims_this_step(self) -> list[tuple[int, float]]:
        """The (dimension, weight) pairs to train now: all of them, or a random ``n_dims_per_step``."""
        pairs = list(zip(self.matryoshka_dims, self.matryoshka_weights, strict=True))
        if self.n_dims_per_step is None or self.n_dims_per_step >= len(pairs):
            return pairs
        chosen = sorted(torch.randperm(len(pairs))[: self.n_dims_per_step].tolist())
        return [pairs[i] for i in chosen]

    def loss_from_leaves(
        self, embeddings: list[Tensor], labels: Tensor | None, side: Mapping[str, Any], backward: bool
    ) -> Tensor:
        """The weighted sum; with ``backward`` each dimension back-propagates into ``embeddings`` in turn."""
        embeddings = self._check(embeddings)
        full = embeddings[0].shape[1]
        total = embeddings[0].new_zeros(())
        for dim, weight in self.dims_this_step():
            if dim > full:
                raise DataError(f"{self._name}: matryoshka dimension {dim} exceeds the embedding size {full}")
            shrunk = [F.normalize(e[:, :dim], p=2, dim=-1) for e in embeddings]
            dim_labels = labels
            if isinstance(labels, Tensor) and labels.dim() in (2, 3) and labels.shape[-1] == full:
                dim_labels = labels[..., :dim]
            if not backward:
                total = total + weight * inner_value(self.loss, shrunk, dim_labels, side, False)
                continue
            # The inner loss back-propagates to these leaves; the truncation's own graph is then run by hand.
            leaves = [s.detach().requires_grad_() for s in shrunk]
            value = inner_value(self.loss, leaves, dim_labels, side, True)
            grads = [weight * leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
            torch.autograd.backward(shrunk, grads)
            total = total + weight * value
        return total

    def get_config_dict(self) -> dict[str, Any]:
        """The inner loss (name and config), ``matryoshka_dims``, ``matryoshka_weights`` and ``n_dims_per_step``."""
        return {
            **describe_inner(self.loss),
            "matryoshka_dims": list(self.matryoshka_dims),
            "matryoshka_weights": list(self.matryoshka_weights),
            "n_dims_per_step": self.n_dims_per_step,
        }


def _check_dims(owner: str, dims: Any, embedding_dim: int | None) -> list[int]:
    if isinstance(dims, str) or not isinstance(dims, Sequence) or not dims:
        raise ConfigError(f"{owner}: matryoshka_dims must be a non-empty list of integers, e.g. [384, 128, 64]")
    for dim in dims:
        integer_at_least(owner, "each of matryoshka_dims", dim, 1)
        if embedding_dim is not None and dim > embedding_dim:
            raise ConfigError(
                f"{owner}: matryoshka_dims {list(dims)} exceed the model's embedding size {embedding_dim}"
            )
    if len(set(dims)) != len(dims):
        raise ConfigError(f"{owner}: matryoshka_dims must not repeat, found {list(dims)}")
    return list(dims)


def _check_weights(owner: str, weights: Any, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    if isinstance(weights, str) or not isinstance(weights, Sequence) or len(weights) != count:
        raise ConfigError(f"{owner}: matryoshka_weights must hold one number per dimension ({count})")
    checked = [non_negative_number(owner, "each of matryoshka_weights", w) for w in weights]
    if not any(checked):
        raise ConfigError(f"{owner}: matryoshka_weights are all 0; at least one must be > 0")
    return checked
