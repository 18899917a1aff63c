"""CrossEntropyLoss (cross-encoder): classify each pair into one of ``num_labels`` classes."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.errors import ConfigError
from trainers.losses._checks import class_labels
from trainers.losses.cross_encoder._base import LogitActivation, PairLoss, activate


class CrossEntropyLoss(PairLoss):
    """Softmax cross-entropy between each pair's ``num_labels`` logits and its class id.

    For pair classification, e.g. natural language inference (entailment / neutral / contradiction)
    or duplicate detection with two classes.

    Args:
        model: the :class:`~sbert_plugins.cross_encoder.CrossEncoder` being trained, with ``num_labels >= 2``
            (as many as there are classes).
        activation: applied to the logits before the softmax: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"``.

    Inputs:
        ==========================  ==========================================
        columns                     label
        ==========================  ==========================================
        (text_A, text_B)            class id, an integer in [0, num_labels)
        ==========================  ==========================================

    Reference:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        2019 (sentence-pair classification), https://arxiv.org/abs/1810.04805.

    Relations:
        With one relevance score per pair use :class:`BinaryCrossEntropyLoss`.

    Example:
        ::

            model = CrossEncoder(encoder_path, num_labels=3)
            loss = CrossEntropyLoss(model)
            value = loss([["A man eats.", "A man eats."], ["Someone eats.", "Nobody eats."]], torch.tensor([0, 2]))
    """

    one_label = False

    def __init__(self, model: CrossEncoder, *, activation: LogitActivation = "identity") -> None:
        super().__init__(model, activation=activation)
        if model.num_labels < 2:
            raise ConfigError(
                f"{self._name} needs a model with one logit per class (num_labels >= 2), this one has "
                f"num_labels={model.num_labels}; use BinaryCrossEntropyLoss for one score per pair"
            )

    def compute_loss_from_logits(self, logits: Tensor, labels: Tensor | None) -> Tensor:
        """Mean cross-entropy of ``activation(logits)`` (``(batch, num_labels)``) against class ids ``labels``."""
        scores = activate(logits, self.activation)
        targets = class_labels(self._name, labels, scores.shape[0], num_classes=scores.shape[1]).to(scores.device)
        return F.cross_entropy(scores, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation": self.activation}
