"""Every transformers model load and save of this package goes through :func:`transformers_io`.

It does two things around a load or a save:

- holds one process-wide lock: transformers initialises a model by swapping global functions
  (``no_init_weights`` patches ``torch.nn.init`` and ``PreTrainedModel.init_weights`` and puts back what it
  found), so two loads in two threads can leave the no-op versions in place for good, and every later model
  then keeps uninitialised (meta) weights; the same lock guards the process-wide progress-bar setting;
- turns transformers' progress bars off: one model load or save is one step, not a bar per module or shard.
  The caller's setting is restored afterwards.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from transformers.utils import logging as hf_logging

P = ParamSpec("P")
R = TypeVar("R")
_lock = threading.RLock()  # re-entrant: a load may build another (a Router's branches)


def transformers_io(load: Callable[P, R]) -> Callable[P, R]:
    """Run ``load`` (a model load or save) under the process-wide lock with transformers' progress bars off."""

    @functools.wraps(load)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _lock:
            bars_were_on = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                return load(*args, **kwargs)
            finally:
                if bars_were_on:
                    hf_logging.enable_progress_bar()

    return wrapper
