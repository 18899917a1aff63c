"""Every transformers model load and save of this package goes through :func:`transformers_io`.

It does three things around a load or a save:

- holds one process-wide lock: transformers initialises a model by swapping global functions
  (``no_init_weights`` patches ``torch.nn.init`` and ``PreTrainedModel.init_weights`` and puts back what it
  found), so two loads in two threads can leave the no-op versions in place for good, and every later model
  then keeps uninitialised (meta) weights; the same lock guards the process-wide logging settings below;
- turns transformers' progress bars off: one model load or save is one step, not a bar per module or shard;
- inside :func:`quiet_loads` (a quiet command line run), holds back transformers' warnings, e.g. the load
  report listing the parameters of a freshly initialised head; errors still show.

The caller's settings are restored afterwards.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from transformers.utils import logging as hf_logging

P = ParamSpec("P")
R = TypeVar("R")
_lock = threading.RLock()  # re-entrant: a load may build another (a Router's branches)
_quiet_depth = 0  # how many quiet_loads() blocks are open, in any thread


def transformers_io(load: Callable[P, R]) -> Callable[P, R]:
    """Run ``load`` (a model load or save) under the process-wide lock with transformers' progress bars off,
    and, inside :func:`quiet_loads`, with transformers' warnings held back."""

    @functools.wraps(load)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _lock:
            bars_were_on = hf_logging.is_progress_bar_enabled()
            verbosity = hf_logging.get_verbosity() if _quiet_depth else None
            hf_logging.disable_progress_bar()
            if verbosity is not None:
                hf_logging.set_verbosity(max(verbosity, hf_logging.ERROR))
            try:
                return load(*args, **kwargs)
            finally:
                if verbosity is not None:
                    hf_logging.set_verbosity(verbosity)
                if bars_were_on:
                    hf_logging.enable_progress_bar()

    return wrapper


@contextmanager
def quiet_loads() -> Iterator[None]:
    """Within this block (process-wide), loads and saves through :func:`transformers_io` report nothing below
    an error: no transformers load report, no notice of freshly initialised parameters. For ``--quiet``."""
    global _quiet_depth
    with _lock:
        _quiet_depth += 1
    try:
        yield
    finally:
        with _lock:
            _quiet_depth -= 1


def loads_are_quiet() -> bool:
    """Whether a :func:`quiet_loads` block is open: loaders then keep their own load notices to themselves."""
    return _quiet_depth > 0
