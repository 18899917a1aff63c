"""GradCache: a loss over a large batch at the activation memory of one mini-batch.

A cached loss runs in three steps (Gao et al., https://arxiv.org/abs/2101.06983):

1. embed every column mini-batch by mini-batch without a graph, recording each mini-batch's random state;
2. compute the loss on those embeddings (as leaf tensors) and back-propagate it to them only, so each
   embedding row now holds ``d loss / d embedding``;
3. when the caller back-propagates the returned scalar, embed each mini-batch again with a graph (the same
   random state, hence the same dropout, and the same autocast setting as step 1) and back-propagate
   ``<embedding, cached gradient> * upstream gradient`` through the model.

Only one mini-batch of activations lives at a time in steps 1 and 3; step 2 holds the ``(batch, dim)``
embeddings and, because the losses here work on row chunks, a ``(mini_batch, batch)`` score block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from sbert_plugins.errors import DataError
from trainers.losses._base import EmbeddingLoss, features_to_device
from trainers.losses._checks import check_column_count

# (embeddings, labels, side inputs, backward) -> the loss value; with backward=True the function has already
# back-propagated the loss into the embeddings' .grad and returns it detached.
LeafLoss = Callable[[list[Tensor], Tensor | None, Mapping[str, Any], bool], Tensor]


def check_features(loss: EmbeddingLoss, features: Any) -> None:
    """The checks :meth:`EmbeddingLoss.forward` makes before embedding: a list of feature dicts, a valid count."""
    name = type(loss).__name__
    if isinstance(features, Mapping) or not isinstance(features, Sequence):
        raise DataError(
            f"{name} expects a list of feature dicts (one per text column {loss.columns}), "
            f"found {type(features).__name__}"
        )
    check_column_count(name, len(features), minimum=loss.min_columns, maximum=loss.max_columns, columns=loss.columns)
    for index, column in enumerate(features):
        if not isinstance(column, Mapping):
            raise DataError(f"{name}: column {index} must be a dict from model.tokenize, found {type(column).__name__}")


def side_inputs_of(loss: nn.Module, features: Sequence[Mapping[str, Tensor]]) -> dict[str, Any]:
    """What ``loss`` needs besides the embeddings (e.g. a guide model's embeddings); ``{}`` for most losses."""
    side_inputs = getattr(loss, "side_inputs", None)
    return side_inputs(features) if callable(side_inputs) else {}


def rows_of(features: Mapping[str, Any]) -> int:
    """The batch size of one column's features (the first dimension of ``input_ids`` or any tensor)."""
    for key in ("input_ids", "attention_mask"):
        value = features.get(key)
        if isinstance(value, Tensor) and value.dim() > 0:
            return int(value.shape[0])
    for value in features.values():
        if isinstance(value, Tensor) and value.dim() > 0:
            return int(value.shape[0])
    raise DataError("a column's features hold no batched tensor (expected input_ids from model.tokenize)")


def mini_batch(features: Mapping[str, Any], begin: int, end: int) -> dict[str, Any]:
    """Rows ``begin:end`` of one column's features, without the padding columns none of those rows uses.

    Dropping trailing padding keeps a mini-batch of short texts from paying for the batch's longest text.
    """
    mask = features.get("attention_mask")
    width, keep = None, None
    if isinstance(mask, Tensor) and mask.dim() == 2:
        width = int(mask.shape[1])
        used = mask[begin:end].bool().any(dim=0).nonzero()
        keep = int(used.max()) + 1 if used.numel() else width
    result: dict[str, Any] = {}
    for key, value in features.items():
        if not isinstance(value, Tensor) or value.dim() == 0:
            result[key] = value
        elif keep is not None and value.dim() >= 2 and value.shape[1] == width:
            result[key] = value[begin:end, :keep]
        else:
            result[key] = value[begin:end]
    return result


class _RandomState:
    """The CPU (and the model's CUDA device's) generator state, to replay a forward pass's dropout exactly."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        devices = [self.device] if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield


def _autocast_like_now(device: torch.device) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A factory of the autocast context in force now, for re-embedding later during backward."""
    kind = device.type
    if not torch.is_autocast_enabled(kind):
        return lambda: torch.autocast(kind, enabled=False)
    dtype = torch.get_autocast_dtype(kind)
    return lambda: torch.autocast(kind, dtype=dtype)


def gradcache_forward(
    model: nn.Module,
    features: Sequence[Mapping[str, Tensor]],
    labels: Tensor | None,
    *,
    mini_batch_size: int,
    leaf_loss: LeafLoss,
    side: Mapping[str, Any],
) -> Tensor:
    """Steps 1-2 of GradCache; returns the loss, whose backward runs step 3 (see the module docstring).

    Without gradients (evaluation) only step 1 and the loss run.
    """
    device = next(model.parameters()).device
    grad_enabled = torch.is_grad_enabled()
    autocast = _autocast_like_now(device)
    columns = [features_to_device(column, device) for column in features]
    plans: list[list[tuple[int, int, _RandomState | None]]] = []
    embeddings: list[Tensor] = []
    with torch.no_grad():
        for column in columns:
            rows = rows_of(column)
            plan, parts = [], []
            for begin in range(0, rows, mini_batch_size):
                end = min(begin + mini_batch_size, rows)
                state = _RandomState(device) if grad_enabled else None
                parts.append(model(mini_batch(column, begin, end))["sentence_embedding"])
                plan.append((begin, end, state))
            plans.append(plan)
            embeddings.append(torch.cat(parts).float())
    with torch.autocast(device.type, enabled=False):
        if not grad_enabled:
            return leaf_loss(embeddings, labels, side, False)
        leaves = [e.requires_grad_() for e in embeddings]
        with torch.enable_grad():
            value = leaf_loss(leaves, labels, side, True)
    cached = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
    result = value.detach().requires_grad_()
    result.register_hook(partial(_replay, model=model, columns=columns, plans=plans, cached=cached, autocast=autocast))
    return result


def _replay(
    upstream: Tensor,
    *,
    model: nn.Module,
    columns: list[dict[str, Any]],
    plans: list[list[tuple[int, int, _RandomState | None]]],
    cached: list[Tensor],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
) -> None:
    """Step 3: re-embed each mini-batch with a graph and push its cached gradient (times ``upstream``) through."""
    with torch.enable_grad():
        for column, plan, gradient in zip(columns, plans, cached, strict=True):
            for begin, end, state in plan:
                replay = state.replay() if state is not None else contextlib.nullcontext()
                with replay, autocast():
                    embedding = model(mini_batch(column, begin, end))["sentence_embedding"]
                surrogate = (embedding.float() * gradient[begin:end]).sum() * upstream
                surrogate.backward()


class CachedEmbeddingLoss(EmbeddingLoss):
    """Base of the losses that embed in mini-batches with GradCache.

    A subclass sets ``mini_batch_size`` and implements :meth:`loss_from_leaves` (its maths, which may
    back-propagate chunk by chunk); ``compute_loss_from_embeddings`` runs the same maths without backward.
    ``uses_gradcache`` may be False on an instance (then ``forward`` embeds the whole batch at once).
    """

    mini_batch_size: int
    uses_gradcache: bool = True

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed the columns in mini-batches of ``mini_batch_size`` and return the scalar loss.

        Its backward re-embeds each mini-batch with gradients (the model runs twice per step).

        Raises:
            DataError: wrong number of columns, or labels missing or of the wrong shape or type.
        """
        if not self.uses_gradcache:
            return super().forward(features, labels)
        return self.cached_forward(features, labels, self.loss_from_leaves)

    def cached_forward(
        self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None, leaf_loss: LeafLoss
    ) -> Tensor:
        """GradCache with ``leaf_loss`` as the maths (a wrapper such as MatryoshkaLoss passes its own)."""
        check_features(self, features)
        return gradcache_forward(
            self.model,
            features,
            labels,
            mini_batch_size=self.mini_batch_size,
            leaf_loss=leaf_loss,
            side=side_inputs_of(self, features),
        )

    def loss_from_leaves(
        self, embeddings: list[Tensor], labels: Tensor | None, side: Mapping[str, Any], backward: bool
    ) -> Tensor:
        """The loss of the batch; with ``backward`` also back-propagated into ``embeddings`` (returned detached).

        The default runs :meth:`compute_loss_from_embeddings` once; row-chunked losses override it.
        """
        value = self.compute_loss_from_embeddings(embeddings, labels, **side)
        if not backward:
            return value
        value.backward()
        return value.detach()
