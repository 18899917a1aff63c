"""CSRReconstructionLoss: how well a CSR model's sparse auto-encoder rebuilds the dense embedding it encodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._checks import non_negative_number

# What the SparseAutoEncoder module adds to its output when it runs with gradients (training).
NEEDED_OUTPUTS = (
    "sentence_embedding_backbone",
    "decoded_embedding_k",
    "decoded_embedding_4k",
    "decoded_embedding_aux",
    "decoded_embedding_k_pre_bias",
)


class CSRReconstructionLoss(nn.Module):
    """The three reconstruction terms of Contrastive Sparse Representation, averaged over text columns.

    For each column, with ``x`` the dense embedding the auto-encoder encodes: ``MSE(x, decode(top_k))``,
    ``MSE(x, decode(top_4k)) / 8`` and ``beta * NMSE(decode(aux_k), x - decode(top_k))`` (the auxiliary
    term revives latents that stopped firing; NMSE divides by the variance of its target, or by 1 when that
    is 0 or every row is the same).

    Args:
        model: the :class:`~sbert_plugins.SparseEncoder` being trained (ending in a SparseAutoEncoder).
        beta: weight of the auxiliary term; >= 0, default 1.

    Inputs:
        Not a loss of its own: :class:`CSRLoss` calls ``compute_loss_components`` with the model's output
        dicts; ``forward`` raises ConfigError.

    Reference:
        Wen et al., "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation", ICML 2025,
        https://arxiv.org/abs/2503.01776; Gao et al., "Scaling and evaluating sparse autoencoders", 2024,
        https://arxiv.org/abs/2406.04093.

    Relations:
        Part of :class:`CSRLoss`, which adds a task loss on the sparse embeddings.

    Example:
        ::

            loss = losses.CSRLoss(model, beta=0.1)  # builds its CSRReconstructionLoss(model, beta=0.1)
    """

    sparse = True

    def __init__(self, model: nn.Module, *, beta: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.beta = non_negative_number(type(self).__name__, "beta", beta)

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Raises ConfigError: the reconstruction terms are part of CSRLoss."""
        del features, labels
        raise ConfigError("CSRReconstructionLoss is part of CSRLoss; train with CSRLoss(model, beta=...)")

    def compute_loss_components(self, outputs: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """``reconstruction_loss_k``, ``reconstruction_loss_4k`` (divided by 8) and ``reconstruction_loss_aux``
        (times ``beta``), each averaged over the columns' output dicts.

        Raises:
            DataError: no outputs, or an output without the auto-encoder's training keys.
        """
        if not outputs:
            raise DataError("CSRReconstructionLoss needs the model's output for at least one text column")
        terms_k, terms_4k, terms_aux = [], [], []
        for index, output in enumerate(outputs):
            missing = [key for key in NEEDED_OUTPUTS if key not in output]
            if missing:
                raise DataError(
                    f"CSRReconstructionLoss: the model's output for column {index} lacks {missing}; the model must "
                    "end with a SparseAutoEncoder and run with gradients enabled (training, not inference mode)"
                )
            x = output["sentence_embedding_backbone"].float()
            terms_k.append(F.mse_loss(x, output["decoded_embedding_k"].float()))
            terms_4k.append(F.mse_loss(x, output["decoded_embedding_4k"].float()))
            aux = output["decoded_embedding_aux"]
            if aux is None:  # no auxiliary latents configured (k_aux = 0)
                terms_aux.append(torch.zeros_like(terms_k[-1]))
            else:
                target = x - output["decoded_embedding_k_pre_bias"].float().detach()
                terms_aux.append(normalized_mean_squared_error(aux.float(), target))
        columns = len(outputs)
        return {
            "reconstruction_loss_k": torch.stack(terms_k).sum() / columns,
            "reconstruction_loss_4k": torch.stack(terms_4k).sum() / columns / 8.0,
            "reconstruction_loss_aux": self.beta * (torch.stack(terms_aux).sum() / columns),
        }

    def get_config_dict(self) -> dict[str, Any]:
        """``beta``."""
        return {"beta": self.beta}


def normalized_mean_squared_error(reconstruction: Tensor, target: Tensor) -> Tensor:
    """``MSE(reconstruction, target) / MSE(mean row of target, target)``; the divisor is 1 when it is 0 or every
    row of ``target`` is the same."""
    spread = F.mse_loss(target.mean(dim=0, keepdim=True).expand_as(target), target)
    constant = (spread == 0) | (target == target[:1]).all()
    return F.mse_loss(reconstruction, target) / torch.where(constant, torch.ones_like(spread), spread)
