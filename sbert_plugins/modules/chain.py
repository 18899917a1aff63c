"""What a module chain needs from its parts: an input module that tokenizes, and output sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn


@runtime_checkable
class InputModule(Protocol):
    """The first module of a chain: turns texts into the features the next modules read.

    :class:`~sbert_plugins.modules.Transformer`, :class:`~sbert_plugins.modules.StaticEmbedding`,
    :class:`~sbert_plugins.modules.WordEmbeddings` and :class:`~sbert_plugins.modules.Router` are input modules.
    ``max_seq_length`` is None for modules that read whole texts.
    """

    @property
    def embedding_dim(self) -> int: ...

    @property
    def max_seq_length(self) -> int | None: ...

    @property
    def tokenizer(self) -> Any: ...

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]: ...

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]: ...

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]: ...


def is_input_module(module: nn.Module) -> bool:
    """Whether ``module`` can start a chain (it tokenizes texts)."""
    return all(callable(getattr(module, name, None)) for name in ("token_ids", "collate", "tokenize"))


def chain_output_dim(modules: Sequence[nn.Module]) -> int:
    """The vector size at the end of ``modules``: the input module's size, changed by every module that
    declares an ``output_dim`` (Pooling, Dense, CNN, LSTM, a Router's default route, ...)."""
    dim = int(modules[0].embedding_dim)  # type: ignore[arg-type]
    for module in modules[1:]:
        declared = getattr(module, "output_dim", None)
        if isinstance(declared, int):
            dim = declared
    return dim
