"""What the wrapper losses (Matryoshka, AdaptiveLayer) share: building and calling the loss they wrap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from sbert_plugins.errors import ConfigError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._gradcache import CachedEmbeddingLoss
from trainers.losses._twin import TwinEncoderLoss

# Losses that wrap another: none of them may be wrapped (the sparse ones regularise their inner loss's output).
WRAPPERS = ("MatryoshkaLoss", "AdaptiveLayerLoss", "Matryoshka2dLoss", "SpladeLoss", "CachedSpladeLoss", "CSRLoss")


def resolve_inner(
    owner: str,
    model: nn.Module,
    loss: EmbeddingLoss | str,
    loss_kwargs: Mapping[str, Any] | None,
    *,
    forbidden: tuple[str, ...] = WRAPPERS,
    names: str = "EMBEDDING_LOSSES",
) -> EmbeddingLoss:
    """The wrapped loss: ``loss`` itself (built on ``model``), or the exported loss named ``loss`` built with
    ``loss_kwargs`` (so that a wrapper can be described, and rebuilt, from JSON).

    ``names`` is the list in :mod:`trainers.losses` the name may come from (``"SPARSE_TASK_LOSSES"`` for the
    sparse wrappers).

    Raises:
        ConfigError: an unknown name, kwargs given with a ready loss, a loss on another model, or one of the
            ``forbidden`` wrappers.
    """
    if isinstance(loss, str):
        from trainers import losses as registry  # the package imports this module: look it up at call time

        allowed = [name for name in getattr(registry, names) if name not in forbidden]
        if loss not in allowed:
            raise ConfigError(f"{owner}: loss must be a loss instance or one of {allowed}, found {loss!r}")
        if loss_kwargs is not None and not isinstance(loss_kwargs, Mapping):
            raise ConfigError(f"{owner}: loss_kwargs must be a dict of {loss}'s keyword arguments")
        loss = getattr(registry, loss)(model, **dict(loss_kwargs or {}))
    elif loss_kwargs is not None:
        raise ConfigError(f"{owner}: loss_kwargs only applies when loss is given by name; build the loss with them")
    # Twin-model and decoder losses embed with more than the model: truncating the model's output alone
    # would leave the other side untouched.
    if not isinstance(loss, EmbeddingLoss) or isinstance(loss, TwinEncoderLoss):
        raise ConfigError(
            f"{owner}: loss must be a sentence-embedding loss from trainers.losses (or its name) that embeds with "
            f"the model alone, found {type(loss).__name__}"
        )
    if type(loss).__name__ in forbidden:
        raise ConfigError(f"{owner}: wrap the inner loss directly, not another {type(loss).__name__}")
    if loss.model is not model:
        raise ConfigError(f"{owner}: the wrapped {type(loss).__name__} must be built on the same model")
    return loss


def inner_value(
    inner: EmbeddingLoss,
    embeddings: list[Tensor],
    labels: Tensor | None,
    side: Mapping[str, Any],
    backward: bool,
) -> Tensor:
    """``inner``'s loss on ready embeddings; with ``backward`` also back-propagated into them (returned detached)."""
    if isinstance(inner, CachedEmbeddingLoss):
        return inner.loss_from_leaves(embeddings, labels, side, backward)
    value = inner.compute_loss_from_embeddings(embeddings, labels, **side)
    if not backward:
        return value
    value.backward()
    return value.detach()


def describe_inner(inner: EmbeddingLoss) -> dict[str, Any]:
    """``{"loss": name, "loss_kwargs": config}``: enough to rebuild the inner loss from JSON."""
    return {"loss": type(inner).__name__, "loss_kwargs": inner.get_config_dict()}
