"""Matryoshka2dLoss: MatryoshkaLoss inside AdaptiveLayerLoss, so the model can be cut in width and in depth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sbert_plugins.encoder import SentenceEncoder
from trainers.losses._base import EmbeddingLoss
from trainers.losses.adaptive_layer import AdaptiveLayerLoss, LayerWeighting
from trainers.losses.matryoshka import MatryoshkaLoss


class Matryoshka2dLoss(AdaptiveLayerLoss):
    """2D Matryoshka: the wrapped loss at several embedding prefixes, on the last and on earlier layers.

    ``AdaptiveLayerLoss(model, MatryoshkaLoss(model, loss, ...), ...)``: each step scores the last layer and
    ``n_layers_per_step`` random earlier layers, each at ``n_dims_per_step`` random prefix sizes of
    ``matryoshka_dims``, plus the KL term that pulls earlier layers toward the last.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        loss: the wrapped loss (built on ``model``) or the name of an exported loss (built with ``loss_kwargs``).
        loss_kwargs: keyword arguments of the named loss (only with a name).
        matryoshka_dims, matryoshka_weights: as in :class:`MatryoshkaLoss`.
        n_dims_per_step: prefix sizes drawn each step; default 1; None trains all of them.
        n_layers_per_step: earlier layers drawn each step; default 1; None trains all of them.
        last_layer_weight, prior_layers_weight, kl_div_weight, kl_temperature, layer_weighting: as in
            :class:`AdaptiveLayerLoss`.

    Inputs:
        Those of the wrapped loss.

    Reference:
        Li et al., "2D Matryoshka Sentence Embeddings", 2024, https://arxiv.org/abs/2402.14776.

    Relations:
        :class:`MatryoshkaLoss` alone when only the width is cut (usually the better choice for the full
        model's quality); :class:`AdaptiveLayerLoss` alone for depth.

    Example:
        ::

            loss = losses.Matryoshka2dLoss(model, "CoSENTLoss", matryoshka_dims=[384, 256, 128, 64])
    """

    def __init__(
        self,
        model: SentenceEncoder,
        loss: EmbeddingLoss | str,
        *,
        loss_kwargs: Mapping[str, Any] | None = None,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_dims_per_step: int | None = 1,
        n_layers_per_step: int | None = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: LayerWeighting = "uniform",
    ) -> None:
        matryoshka = MatryoshkaLoss(
            model,
            loss,
            loss_kwargs=loss_kwargs,
            matryoshka_dims=matryoshka_dims,
            matryoshka_weights=matryoshka_weights,
            n_dims_per_step=n_dims_per_step,
        )
        super().__init__(
            model,
            matryoshka,
            n_layers_per_step=n_layers_per_step,
            last_layer_weight=last_layer_weight,
            prior_layers_weight=prior_layers_weight,
            kl_div_weight=kl_div_weight,
            kl_temperature=kl_temperature,
            layer_weighting=layer_weighting,
        )

    def get_config_dict(self) -> dict[str, Any]:
        """The inner loss, the Matryoshka settings and the layer settings, in one flat dict."""
        layers = {k: v for k, v in super().get_config_dict().items() if k not in ("loss", "loss_kwargs")}
        return {**self.loss.get_config_dict(), **layers}
