"""Loading a model shows no transformers progress bar: one model load is one step, not a bar per module."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from transformers.utils import logging as hf_logging

P = ParamSpec("P")
R = TypeVar("R")
_lock = threading.Lock()
_depth = 0  # loads under way; the bar setting is restored when the last one ends
_was_enabled = True


def without_hf_progress_bars(load: Callable[P, R]) -> Callable[P, R]:
    """Run ``load`` with transformers' progress bars off, restoring the caller's setting afterwards."""

    @functools.wraps(load)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        global _depth, _was_enabled
        with _lock:
            if _depth == 0:
                _was_enabled = hf_logging.is_progress_bar_enabled()
                hf_logging.disable_progress_bar()
            _depth += 1
        try:
            return load(*args, **kwargs)
        finally:
            with _lock:
                _depth -= 1
                if _depth == 0 and _was_enabled:
                    hf_logging.enable_progress_bar()

    return wrapper
