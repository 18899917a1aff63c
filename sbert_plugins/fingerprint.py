"""Model identity: a short digest of a model's weights and of every setting that shapes its outputs.

Two models have the same fingerprint when they compute the same function: the same weights, module
configurations, tokenizer and output settings, wherever their files lie. Any training step changes it.
The precision a model runs in is not part of it (see :class:`FingerprintCache`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

FINGERPRINT_LENGTH = 16
# Keys of a transformers config that say where or by which version it was written, not what it computes.
_VOLATILE_CONFIG_KEYS = frozenset({"_name_or_path", "transformers_version", "torch_dtype", "dtype", "_commit_hash"})


# Set by each tokenizer call (a fast tokenizer keeps the last call's truncation and padding in its state), so
# they say what was last asked of it, not what it computes; the module's max_seq_length is a fact of its own.
_CALL_STATE_KEYS = ("truncation", "padding")


def tokenizer_facts(tokenizer: Any) -> str:
    """A digest of a tokenizer's vocabulary and rules (its serialised form, without the per-call truncation and
    padding state: the same before and after encoding)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        text = json.dumps({k: v for k, v in state.items() if k not in _CALL_STATE_KEYS}, sort_keys=True)
    else:  # a slow tokenizer: its vocabulary and class
        text = json.dumps([type(tokenizer).__name__, sorted(tokenizer.get_vocab().items())])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hf_config_facts(config: Any) -> dict[str, Any]:
    """A transformers model config as a dict, without the keys that record where it came from."""
    return {k: v for k, v in config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}


def fingerprint(module: nn.Module, facts: Mapping[str, Any]) -> str:
    """Digest of ``module``'s state dict (names, shapes, float32 values) and of ``facts`` (JSON-able settings)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(facts, sort_keys=True, default=str).encode("utf-8"))
    for name, tensor in sorted(module.state_dict().items()):
        values = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(values.shape)}".encode())
        digest.update(values.numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


class FingerprintCache:
    """Remembers a module's fingerprint until one of its tensors is changed in place or replaced.

    Hashing the weights costs a pass over them, so the digest is kept with a key made of each tensor's
    storage address and in-place version counter (which an optimizer step increments).

    :meth:`pin` computes the fingerprint now and keeps it across a later dtype conversion: a model loaded
    from fp32 files and run in bf16 keeps the fingerprint of its files.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._value = ""
        self._rekey = False

    def __getstate__(self) -> dict[str, Any]:
        # Storage addresses mean nothing in another process: the copy trusts the value and re-keys on first use.
        # The owner refreshes the value (calls get) before it is pickled.
        return {"_key": None, "_value": self._value, "_rekey": bool(self._value)}

    def get(self, module: nn.Module, facts: Callable[[], Mapping[str, Any]]) -> str:
        """The fingerprint of ``module`` with ``facts()``; computed again only when the weights changed."""
        key = _state_key(module)
        if self._rekey:
            self._key, self._rekey = key, False
        if key != self._key:
            self._value = fingerprint(module, facts())
            self._key = key
        return self._value

    def pin(self, module: nn.Module, facts: Callable[[], Mapping[str, Any]], convert: Callable[[], object]) -> None:
        """Fingerprint ``module`` now, run ``convert`` (e.g. a dtype change) and keep the fingerprint for the result."""
        value = fingerprint(module, facts())
        convert()
        self._value = value
        self._key = _state_key(module)


def module_facts(module: nn.Module) -> dict[str, Any]:
    """What shapes a module's outputs besides its tensors: its class, its config and, for a module holding a
    transformers model and tokenizer, their configuration and vocabulary."""
    facts: dict[str, Any] = {"type": type(module).__name__}
    get_config = getattr(module, "get_config_dict", None)
    if callable(get_config):
        facts["config"] = get_config()
    for attribute in ("max_seq_length", "do_lower_case"):
        if hasattr(module, attribute):
            facts[attribute] = getattr(module, attribute)
    model = getattr(module, "auto_model", getattr(module, "model", None))
    if model is not None and hasattr(model, "config"):
        facts["model_config"] = hf_config_facts(model.config)
    tokenizer = getattr(module, "tokenizer", None)
    if tokenizer is not None:
        facts["tokenizer"] = tokenizer_facts(tokenizer)
    return facts


# Values read from each tensor for the cache key: fused optimizers (the Trainer's AdamW) write weights without
# bumping their version counters, but a training step moves these values.
_SAMPLED_VALUES = 16


def _state_key(module: nn.Module) -> tuple[Any, ...]:
    tensors = module.state_dict(keep_vars=True)
    layout = tuple(
        (name, tensor.data_ptr(), tensor._version, tensor.dtype, tuple(tensor.shape))
        for name, tensor in tensors.items()
    )
    with torch.no_grad():
        # Views only, then one concatenation and one transfer: a few operations whatever the number of tensors.
        samples = [_spread_view(tensor) for tensor in tensors.values()]
        values = torch.cat(samples).double() if samples else None  # cat promotes mixed dtypes
    return layout, () if values is None else tuple(torch.nan_to_num(values).tolist())


def _spread_view(tensor: torch.Tensor) -> torch.Tensor:
    """Up to :data:`_SAMPLED_VALUES` values spread over ``tensor`` (a view, no copy)."""
    flat = tensor.detach().reshape(-1)
    return flat[:: max(1, flat.numel() // _SAMPLED_VALUES)][:_SAMPLED_VALUES]
