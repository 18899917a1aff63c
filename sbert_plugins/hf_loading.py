"""Every transformers model load of this package goes through :func:`transformers_loading`.

It does two things around a load:

- holds one process-wide lock: transformers initialises a model by swapping global functions
  (``no_init_weights`` patches ``torch.nn.init`` and ``PreTrainedModel.init_weights`` and puts back what it
  found), so two loads in two threads can leave the no-op versions in place for good, and every later model
  then keeps uninitialised (meta) weights;
- turns transformers' progress bars off: one model load is one step, not a bar per module. The caller's
  setting is restored afterwards.
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


def transformers_loading(load: Callable[P, R]) -> Callable[P, R]:
    """Run ``load`` under the process-wide loading lock with transformers' progress bars off."""

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
