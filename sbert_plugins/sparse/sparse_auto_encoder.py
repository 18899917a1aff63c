"""SparseAutoEncoder: CSR (Contrastive Sparse Representation) on top of a dense sentence embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn

from sbert_plugins._jsonio import write_json
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules._files import WEIGHTS_FILE, load_weights, read_config

CONFIG_FILE = "config.json"
MAX_ACTIVE_DIMS_KEY = "max_active_dims"
"""A feature the encoder sets to ask for another ``k`` in one call (the reference's ``max_active_dims``)."""
# The reference saves the tied weight under the decoder's name; ours is the same tensor.
_TIED_WEIGHT_KEYS = ("decoder.linear.weight", "encoder.weight")


class _TiedTranspose(nn.Module):
    """The decoder: the encoder's weight, transposed (shared, never a copy)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.linear.weight.t())


class SparseAutoEncoder(nn.Module):
    """Turns a dense embedding into a sparse one: ``relu(top_k(W (x - b_pre) + b_latent))``, with a tied
    decoder for the reconstruction losses (CSR, https://arxiv.org/abs/2503.01776).

    Outside inference mode (training, evaluation under no_grad) the features also get what the CSR losses read:
    ``sentence_embedding_backbone``, ``sentence_embedding_encoded`` (latents before top-k),
    ``sentence_embedding_encoded_4k``, ``auxiliary_embedding``, ``decoded_embedding_k``, ``decoded_embedding_4k``,
    ``decoded_embedding_aux``, ``decoded_embedding_k_pre_bias``, as the reference names them.

    Args:
        input_dim: size of the incoming dense embedding.
        hidden_dim: size of the sparse embedding.
        k: non-zeros kept per embedding.
        k_aux: latents kept for the auxiliary (dead-latent) loss.
        normalize: standardise each input (mean 0, std 1) first, and undo it after decoding.
        dead_threshold: a latent unused for more than this many training steps counts as dead.

    Raises:
        ConfigError: a size or ``k`` that is not a positive integer, or ``k`` above ``hidden_dim``.
    """

    st_type = "sentence_transformers.sparse_encoder.models.SparseAutoEncoder"

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        k: int = 8,
        k_aux: int = 512,
        normalize: bool = False,
        dead_threshold: int = 30,
    ) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden_dim), ("k", k)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"SparseAutoEncoder {name} must be a positive integer, found {value!r}")
        if k > hidden_dim:
            raise ConfigError(f"SparseAutoEncoder k={k} exceeds hidden_dim={hidden_dim}")
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.k = k
        self.k_aux = k_aux
        self.normalize = normalize
        self.dead_threshold = dead_threshold
        self.pre_bias = nn.Parameter(torch.zeros(input_dim))
        self.encoder = nn.Linear(input_dim, hidden_dim, bias=False)
        self.latent_bias = nn.Parameter(torch.zeros(hidden_dim))
        self.decoder = _TiedTranspose(self.encoder)
        self.stats_last_nonzero: Tensor
        self.register_buffer("stats_last_nonzero", torch.zeros(hidden_dim, dtype=torch.long))

    @property
    def output_dim(self) -> int:
        return self.hidden_dim

    def encode_pre_act(self, x: Tensor) -> Tensor:
        """Latents before the top-k: ``W (x - pre_bias) + latent_bias``."""
        return F.linear(x - self.pre_bias, self.encoder.weight, self.latent_bias)

    def top_k(self, latents: Tensor, k: int) -> Tensor:
        """``latents`` with all but the ``k`` largest of each row set to 0, then ReLU."""
        top = torch.topk(latents, k=min(k, latents.shape[-1]), dim=-1)
        return F.relu(torch.zeros_like(latents).scatter(-1, top.indices, top.values))

    def decode(self, latents: Tensor, stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Reconstruct the dense input from ``latents``; ``stats`` (mean, std) undo the normalisation."""
        reconstruction = self.decoder(latents) + self.pre_bias
        if stats is not None:
            reconstruction = reconstruction * stats[1] + stats[0]
        return reconstruction

    def _standardise(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        if not self.normalize:
            return x, None
        mean = x.mean(dim=-1, keepdim=True)
        centred = x - mean
        std = centred.std(dim=-1, keepdim=True)
        return centred / (std + 1e-5), (mean, std)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """Replace ``sentence_embedding`` by its sparse code (``features["max_active_dims"]`` overrides ``k``)."""
        k = features.get(MAX_ACTIVE_DIMS_KEY) or self.k
        x = features["sentence_embedding"]
        prepared, stats = self._standardise(x)
        latents = self.encode_pre_act(prepared)
        latents_k = self.top_k(latents, k)
        if torch.is_inference_mode_enabled():
            features["sentence_embedding"] = latents_k
            return features
        # The order of the statistics updates follows the reference, so the dead-latent mask matches it step by step.
        counting = self.training and torch.is_grad_enabled()
        if counting:
            self._count_dead_latents(latents, k)
        dead = self.stats_last_nonzero > self.dead_threshold
        latents_aux = self.top_k(latents * dead, self.k_aux) if self.k_aux else None
        latents_4k = self.top_k(latents, 4 * k)
        if counting:
            self._count_dead_latents(latents, 4 * k)
        decoded_k = self.decode(latents_k, stats)
        decoder_bias = self.pre_bias if stats is None else self.pre_bias * stats[1]
        decoded_aux = None
        if latents_aux is not None:
            decoded_aux = self.decoder(latents_aux) + self.pre_bias
            if stats is not None:
                decoded_aux = decoded_aux * stats[1]
        features.update(
            {
                "sentence_embedding_backbone": x,
                "sentence_embedding_encoded": latents,
                "sentence_embedding_encoded_4k": latents_4k,
                "auxiliary_embedding": latents_aux,
                "decoded_embedding_k": decoded_k,
                "decoded_embedding_4k": self.decode(latents_4k, stats),
                "decoded_embedding_aux": decoded_aux,
                "decoded_embedding_k_pre_bias": decoded_k - decoder_bias,
                "sentence_embedding": latents_k,
            }
        )
        return features

    def _count_dead_latents(self, latents: Tensor, k: int) -> None:
        """Steps since each latent was last among a row's top ``k`` (reset to 1 when it was, else +1)."""
        with torch.no_grad():
            top = torch.topk(latents, k=min(k, latents.shape[-1]), dim=-1)
            used = torch.zeros_like(self.stats_last_nonzero)
            used.scatter_add_(0, top.indices.reshape(-1), (top.values > 1e-5).to(used.dtype).reshape(-1))
            self.stats_last_nonzero *= 1 - used.clamp(max=1)
            self.stats_last_nonzero += 1

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "input_dim": self.input_dim,
            "hidden_dim": self.hidden_dim,
            "k": self.k,
            "k_aux": self.k_aux,
            "normalize": self.normalize,
            "dead_threshold": self.dead_threshold,
        }

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / CONFIG_FILE, self.get_config_dict())
        state = {
            "pre_bias": self.pre_bias,
            "latent_bias": self.latent_bias,
            _TIED_WEIGHT_KEYS[0]: self.encoder.weight,
            "stats_last_nonzero": self.stats_last_nonzero,
        }
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(path / WEIGHTS_FILE))

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> SparseAutoEncoder:
        """Read ``config.json`` and the weights (the tied weight under either of its names).

        Raises:
            ConfigError: a file or tensor is missing, or the config holds invalid sizes.
        """
        config = read_config(path, CONFIG_FILE)
        known = ("input_dim", "hidden_dim", "k", "k_aux", "normalize", "dead_threshold")
        if "input_dim" not in config:
            raise ConfigError(f"{path / CONFIG_FILE}: missing key 'input_dim'")
        try:
            module = cls(**{key: config[key] for key in known if key in config})
        except ConfigError as exc:
            raise ConfigError(f"{path / CONFIG_FILE}: {exc}") from exc
        weights = load_weights(path, allow_pickle=allow_pickle, owner="SparseAutoEncoder")
        tied = next((weights[key] for key in _TIED_WEIGHT_KEYS if key in weights), None)
        missing = [key for key in ("pre_bias", "latent_bias") if key not in weights] + (
            ["encoder weight"] if tied is None else []
        )
        if missing:
            raise ConfigError(f"{path / WEIGHTS_FILE}: missing tensors {missing}; found {sorted(weights)}")
        with torch.no_grad():
            module.pre_bias.copy_(weights["pre_bias"])
            module.latent_bias.copy_(weights["latent_bias"])
            module.encoder.weight.copy_(tied)  # type: ignore[arg-type]
            if "stats_last_nonzero" in weights:
                module.stats_last_nonzero.copy_(weights["stats_last_nonzero"])
        return module
