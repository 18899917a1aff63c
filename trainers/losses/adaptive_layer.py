"""AdaptiveLayerLoss: the wrapped loss on the output of earlier layers too, so the model can be cut in depth."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError
from trainers.losses._base import EmbeddingLoss, features_to_device
from trainers.losses._checks import choice, integer_at_least, non_negative_number
from trainers.losses._gradcache import CachedEmbeddingLoss, check_features, side_inputs_of
from trainers.losses._wrapping import describe_inner, resolve_inner

LayerWeighting = Literal["uniform", "log", "linear"]


class AdaptiveLayerLoss(EmbeddingLoss):
    """The wrapped loss on the last layer, plus on a few earlier layers, plus a KL term toward the last layer.

    One transformer pass yields every layer's token embeddings; each chosen layer is pooled like the last
    one (the model's Pooling/Dense/Normalize modules) and scored with the wrapped loss:
    ``last_layer_weight * inner(last) + prior_layers_weight * mean_k(layer_weight(k) * inner(layer_k))
    + kl_div_weight * kl_temperature * KL(softmax(last / T) || softmax(layer_k / T))`` (summed over the
    chosen layers, the last layer as a fixed teacher). Layer ``0`` is the embedding layer's output.
    Afterwards, dropping the top layers (``model[0].auto_model.encoder.layer = ...[:k]``) keeps more quality.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (its first module a Transformer).
        loss: the wrapped loss (built on ``model``) or the name of an exported loss (built with ``loss_kwargs``).
        loss_kwargs: keyword arguments of the named loss (only with a name).
        n_layers_per_step: earlier layers drawn at random each step; default 1; None trains all of them.
        last_layer_weight: weight of the last layer's loss; >= 0, default 1.
        prior_layers_weight: weight of the earlier layers' mean loss; >= 0, default 1.
        kl_div_weight: weight of the KL term; >= 0, default 1.
        kl_temperature: softmax temperature of the KL term; >= 0, default 0.3 (0 switches the term off).
        layer_weighting: extra weight of earlier layer ``k``: ``"uniform"`` (1, default), ``"log"``
            (``1 / (1 + ln(1 + k))``) or ``"linear"`` (``1 / (1 + k)``).

    Inputs:
        Those of the wrapped loss. A cached (GradCache) loss cannot be wrapped: this loss needs every layer
        of the batch at once.

    Reference:
        Li et al., "2D Matryoshka Sentence Embeddings", 2024, https://arxiv.org/abs/2402.14776.

    Relations:
        :class:`Matryoshka2dLoss` combines this with :class:`MatryoshkaLoss` (depth and width).

    Example:
        ::

            loss = losses.AdaptiveLayerLoss(model, losses.MultipleNegativesRankingLoss(model))
    """

    def __init__(
        self,
        model: SentenceEncoder,
        loss: EmbeddingLoss | str,
        *,
        loss_kwargs: Mapping[str, Any] | None = None,
        n_layers_per_step: int | None = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: LayerWeighting = "uniform",
    ) -> None:
        super().__init__(model)
        forbidden = ("AdaptiveLayerLoss", "Matryoshka2dLoss")
        self.loss = resolve_inner(self._name, model, loss, loss_kwargs, forbidden=forbidden)
        self._check_inner(self.loss)
        if not callable(getattr(model[0], "auto_model", None)):  # type: ignore[index]
            raise ConfigError(f"{self._name} needs a model whose first module is a Transformer (with auto_model)")
        if n_layers_per_step is not None:
            integer_at_least(self._name, "n_layers_per_step", n_layers_per_step, 1)
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = non_negative_number(self._name, "last_layer_weight", last_layer_weight)
        self.prior_layers_weight = non_negative_number(self._name, "prior_layers_weight", prior_layers_weight)
        self.kl_div_weight = non_negative_number(self._name, "kl_div_weight", kl_div_weight)
        self.kl_temperature = non_negative_number(self._name, "kl_temperature", kl_temperature)
        self.layer_weighting: LayerWeighting = choice(  # type: ignore[assignment]
            self._name, "layer_weighting", layer_weighting, ("uniform", "log", "linear")
        )
        self.min_columns = self.loss.min_columns  # type: ignore[misc]
        self.max_columns = self.loss.max_columns  # type: ignore[misc]
        self.columns = self.loss.columns  # type: ignore[misc]

    def _check_inner(self, inner: nn.Module) -> None:
        cached = [m for m in inner.modules() if isinstance(m, CachedEmbeddingLoss) and m.uses_gradcache]
        if cached:
            raise ConfigError(
                f"{self._name} cannot wrap {type(cached[0]).__name__} (GradCache embeds in mini-batches, this loss "
                "needs every layer of the whole batch); wrap the non-cached loss instead"
            )

    def layer_weight(self, layer: int) -> float:
        """The extra weight of earlier layer ``layer`` under ``layer_weighting``."""
        if self.layer_weighting == "log":
            return 1.0 / (1.0 + math.log(1 + layer))
        if self.layer_weighting == "linear":
            return 1.0 / (1 + layer)
        return 1.0

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Run the transformer once per column, pool the last and the chosen earlier layers, return the loss.

        Raises:
            DataError: what the wrapped loss raises.
        """
        check_features(self, features)
        device = next(self.model.parameters()).device
        per_column = [self._layer_embeddings(features_to_device(column, device)) for column in features]
        count = len(per_column[0]) - 1  # earlier layers: the embedding output and every layer but the last
        layers = list(range(count))
        if self.n_layers_per_step is not None and self.n_layers_per_step < count:
            layers = sorted(torch.randperm(count)[: self.n_layers_per_step].tolist())
        side = side_inputs_of(self.loss, features)
        last = [column[-1]().float() for column in per_column]
        chosen = {k: [column[k]().float() for column in per_column] for k in layers}
        with torch.autocast(device_type=device.type, enabled=False):
            return self.compute_loss_from_layers(last, chosen, labels, **side)

    def _layer_embeddings(self, features: dict[str, Any]) -> list[Any]:
        """Lazy sentence embeddings of each layer (callables), from one transformer pass with hidden states."""
        transformer: Any = self.model[0]  # type: ignore[index]
        rest = list(self.model)[1:]
        inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        output = transformer.auto_model(**inputs, output_hidden_states=True, return_dict=True)
        hidden = [*output.hidden_states[:-1], output.last_hidden_state]

        def pooled(tokens: Tensor) -> Tensor:
            layer_features = {**features, "token_embeddings": tokens}
            for module in rest:
                layer_features = module(layer_features)
            embedding: Tensor = layer_features["sentence_embedding"]
            return embedding

        return [lambda tokens=tokens: pooled(tokens) for tokens in hidden]

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None, **side: Any
    ) -> Tensor:
        """The wrapped loss on last-layer embeddings only (weighted by ``last_layer_weight``).

        The earlier layers need the model; see :meth:`compute_loss_from_layers` for the whole loss on tensors.
        """
        return self.compute_loss_from_layers(embeddings, {}, labels, **side)

    def compute_loss_from_layers(
        self, last: list[Tensor], earlier: Mapping[int, list[Tensor]], labels: Tensor | None, **side: Any
    ) -> Tensor:
        """The whole loss from the last layer's embeddings and those of the chosen earlier layers (by index)."""
        last = self._check(last)
        value = self.loss.compute_loss_from_embeddings(last, labels, **side) * self.last_layer_weight
        if not earlier:
            return value
        teacher = None
        if self.kl_temperature > 0:
            teacher = F.softmax(torch.cat(last) / self.kl_temperature, dim=-1).detach()
        for layer, embeddings in earlier.items():
            layer_loss = self.loss.compute_loss_from_embeddings(self._check(embeddings), labels, **side)
            value = value + layer_loss * self.layer_weight(layer) / len(earlier) * self.prior_layers_weight
            if teacher is not None:
                student = F.log_softmax(torch.cat(embeddings) / self.kl_temperature, dim=-1)
                kl = F.kl_div(student, teacher, reduction="batchmean")
                value = value + kl * self.kl_temperature * self.kl_div_weight
        return value

    def get_config_dict(self) -> dict[str, Any]:
        """The inner loss (name and config) and the layer settings."""
        return {
            **describe_inner(self.loss),
            "n_layers_per_step": self.n_layers_per_step,
            "last_layer_weight": self.last_layer_weight,
            "prior_layers_weight": self.prior_layers_weight,
            "kl_div_weight": self.kl_div_weight,
            "kl_temperature": self.kl_temperature,
            "layer_weighting": self.layer_weighting,
        }
