"""A feed-forward layer on the sentence embedding (``2_Dense/`` in a sentence-transformers folder)."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from sbert_plugins._jsonio import read_json
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules._files import load_weights, save_module

# Only these activations are accepted from a config file: loading never imports an arbitrary class.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.GELU": nn.GELU,
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
    "torch.nn.modules.activation.SiLU": nn.SiLU,
    "torch.nn.modules.linear.Identity": nn.Identity,
}
_NAME_OF = {cls: name for name, cls in ACTIVATIONS.items()}


class Dense(nn.Module):
    """``activation(W x + b)`` applied to the sentence embedding.

    Args:
        in_features: size of the incoming sentence embedding.
        out_features: size of the produced embedding.
        bias: whether the linear layer has a bias.
        activation: an activation module from :data:`ACTIVATIONS` (default ``nn.Tanh()``).
    """

    st_type = "sentence_transformers.models.Dense"

    def __init__(
        self, in_features: int, out_features: int, *, bias: bool = True, activation: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        self.activation = nn.Tanh() if activation is None else activation
        if type(self.activation) not in _NAME_OF:
            raise ConfigError(
                f"Dense activation {type(self.activation).__name__} is not supported; "
                f"use one of {sorted(c.__name__ for c in _NAME_OF)}"
            )
        self.linear = nn.Linear(in_features, out_features, bias=bias)

    @property
    def output_dim(self) -> int:
        return self.out_features

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features["sentence_embedding"] = self.activation(self.linear(features["sentence_embedding"]))
        return features

    def get_config_dict(self) -> dict[str, object]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "activation_function": _NAME_OF[type(self.activation)],
        }

    def save(self, path: Path) -> None:
        save_module(self, path, self.get_config_dict())

    @classmethod
    def load(cls, path: Path, *, allow_pickle: bool = False) -> Dense:
        config = read_json(path / "config.json")
        activation_name = config.get("activation_function", "torch.nn.modules.activation.Tanh")
        if activation_name not in ACTIVATIONS:
            raise ConfigError(
                f"{path / 'config.json'}: activation_function {activation_name!r} is not supported; "
                f"use one of {sorted(ACTIVATIONS)}"
            )
        if config.get("use_residual"):
            raise ConfigError(f"{path / 'config.json'}: use_residual Dense layers are not supported")
        try:
            dense = cls(
                int(config["in_features"]),
                int(config["out_features"]),
                bias=bool(config.get("bias", True)),
                activation=ACTIVATIONS[activation_name](),
            )
        except KeyError as exc:
            raise ConfigError(f"{path / 'config.json'}: missing key {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path / 'config.json'}: in_features and out_features must be integers ({exc})") from exc
        try:
            dense.load_state_dict(load_weights(path, allow_pickle=allow_pickle, owner="Dense"))
        except RuntimeError as exc:  # shapes that disagree with config.json
            raise ConfigError(
                f"{path}: the weights do not fit config.json (in_features={dense.in_features}, "
                f"out_features={dense.out_features}): {str(exc).splitlines()[-1].strip()}"
            ) from exc
        return dense
