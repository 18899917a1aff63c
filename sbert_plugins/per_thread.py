"""An attribute whose value belongs to the thread that set it (per instance and per thread)."""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class PerThread(Generic[T]):
    """A class attribute (descriptor) that each thread reads and writes on its own, per instance.

    Used for what an encode call reports after it returns (e.g. how many texts it truncated): a thread
    reads the value of its own last call, never one that another thread's call wrote in between.
    Instances are held weakly; the value is kept out of pickles and copies (a copy reads ``default``).
    """

    def __init__(self, default: T) -> None:
        self.default = default
        self._local = threading.local()

    def _values(self) -> weakref.WeakKeyDictionary[Any, T]:
        values: weakref.WeakKeyDictionary[Any, T] | None = getattr(self._local, "values", None)
        if values is None:
            values = self._local.values = weakref.WeakKeyDictionary()
        return values

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> PerThread[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | PerThread[T]:
        if instance is None:
            return self
        return self._values().get(instance, self.default)

    def __set__(self, instance: object, value: T) -> None:
        self._values()[instance] = value
