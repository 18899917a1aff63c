"""Gather concurrent async encoding requests into shared batches (vendor-free).

Used by every adapter that encodes for many concurrent callers: LangChain's ``aembed_*`` and the HTTP
server. A coroutine that asks for results puts its items in the queue of its event loop and waits on a
future. One flusher task per event loop takes what has arrived, runs ``encode`` on all of it in a worker
thread (the event loop keeps running meanwhile), and resolves the futures. Requests that arrive while a
batch is being encoded wait together for the next one, so N concurrent single-text requests cost about
``ceil(N / batch)`` forward passes instead of N. The encoder's own token-budget batching then splits
each gathered batch into forward passes.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sbert_plugins.errors import ConfigError, IntegrationError

EncodeFn = Callable[[list[Any]], Sequence[Any]]
"""Encodes a list of items and returns one result per item, in order (a list, an array, ...)."""


class QueueFullError(IntegrationError):
    """A :class:`MicroBatcher` already holds as many waiting items as it may: try again later."""


@dataclass
class _Request:
    key: Hashable
    items: list[Any]
    encode: EncodeFn
    future: asyncio.Future[Sequence[Any]]


class _LoopQueue:
    """The pending requests of one event loop and the task that flushes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, batcher: MicroBatcher) -> None:
        self._loop = loop
        self._batcher = batcher
        self._pending: list[_Request] = []
        self._queued = 0  # items in self._pending
        self._arrived = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return self._queued

    async def submit(self, key: Hashable, items: list[Any], encode: EncodeFn) -> Sequence[Any]:
        limit = self._batcher.max_queued_items
        if limit is not None and self._queued + len(items) > limit:
            raise QueueFullError(
                f"the encoding queue holds {self._queued} items and takes at most {limit}; "
                f"{len(items)} more do not fit: retry later"
            )
        future: asyncio.Future[Sequence[Any]] = self._loop.create_future()
        self._pending.append(_Request(key, items, encode, future))
        self._queued += len(items)
        self._arrived.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = self._loop.create_task(self._flush_until_empty())
        return await future

    async def _flush_until_empty(self) -> None:
        # Yield once so that requests started in the same loop iteration (e.g. by asyncio.gather)
        # join the first batch instead of the first caller running alone.
        await asyncio.sleep(0)
        while self._pending:
            await self._wait_for_more()
            requests = self._take()
            groups: dict[Hashable, list[_Request]] = {}
            for request in requests:
                if not request.future.done():  # a caller cancelled while waiting
                    groups.setdefault(request.key, []).append(request)
            for group in groups.values():
                await self._encode_group(group)

    async def _wait_for_more(self) -> None:
        """Give a batch that is not full up to ``max_wait_s`` to fill, so that an idle server does not
        encode the first arrival alone while the next ones are on their way."""
        wait, full = self._batcher.max_wait_s, self._batcher.max_batch_items
        deadline = self._loop.time() + wait
        while wait > 0 and (full is None or self._queued < full):
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
                return

    def _take(self) -> list[_Request]:
        """Whole requests from the front, up to ``max_batch_items`` items (at least one request)."""
        full = self._batcher.max_batch_items
        count, taken = 0, 0
        for request in self._pending:
            if taken and full is not None and count + len(request.items) > full:
                break
            count += len(request.items)
            taken += 1
        requests, self._pending = self._pending[:taken], self._pending[taken:]
        self._queued -= count
        return requests

    async def _encode_group(self, group: list[_Request]) -> None:
        items = [item for request in group for item in request.items]
        try:
            results = await asyncio.to_thread(group[0].encode, items)
        except asyncio.CancelledError:
            # The loop is shutting down: nobody will flush the rest, so release every waiter.
            for request in [*group, *self._pending]:
                request.future.cancel()
            self._pending, self._queued = [], 0
            raise
        except Exception as exc:
            if len(group) > 1:
                # One request's items may be what failed: encode each request alone, so that only the
                # requests that fail on their own receive an error.
                for request in group:
                    await self._encode_group([request])
                return
            if not group[0].future.done():
                group[0].future.set_exception(exc)
            return
        offset = 0
        for request in group:
            end = offset + len(request.items)
            if not request.future.done():
                request.future.set_result(results[offset:end])
            offset = end


class MicroBatcher:
    """Shares batches between concurrent async callers, with one queue per running event loop.

    ``await batcher.submit(key, items, encode)`` returns ``encode``'s results for ``items`` (a slice of
    what ``encode`` returned for the whole batch). Requests with equal ``key`` that are waiting at the
    same time are concatenated and encoded by a single ``encode`` call (the first request's), which runs
    in a worker thread; requests with different keys (e.g. queries and documents, which take different
    prompts) are encoded apart, one group after the other. If ``encode`` raises on a group, each of its
    requests is encoded alone, and only those that fail alone receive their exception; other groups and
    later batches are not affected.

    Args:
        max_wait_s: when a batch is not full, wait up to this long for more requests before encoding
            it (default 0: encode at once; requests that arrive meanwhile form the next batch).
        max_batch_items: at most this many items per batch (whole requests; a larger request forms a
            batch alone). Default: everything waiting.
        max_queued_items: :meth:`submit` raises :class:`QueueFullError` instead of queueing beyond this
            many waiting items (items being encoded do not count). Default: unbounded.

    Raises:
        ConfigError: a negative wait, or a bound that is not a positive integer.
    """

    def __init__(
        self,
        *,
        max_wait_s: float = 0.0,
        max_batch_items: int | None = None,
        max_queued_items: int | None = None,
    ) -> None:
        if not max_wait_s >= 0:
            raise ConfigError(f"max_wait_s must be 0 or more seconds, found {max_wait_s!r}")
        for name, value in (("max_batch_items", max_batch_items), ("max_queued_items", max_queued_items)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ConfigError(f"{name} must be a positive integer or None, found {value!r}")
        self.max_wait_s = float(max_wait_s)
        self.max_batch_items = max_batch_items
        self.max_queued_items = max_queued_items
        self._lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = weakref.WeakKeyDictionary()

    @property
    def queued_items(self) -> int:
        """Items waiting to be encoded, over all event loops (items being encoded do not count)."""
        with self._lock:
            return sum(queue.queued for queue in list(self._queues.values()))

    async def submit(self, key: Hashable, items: list[Any], encode: EncodeFn) -> Sequence[Any]:
        """Encode ``items`` together with the other requests of the same ``key`` waiting now.

        Raises:
            QueueFullError: ``max_queued_items`` would be exceeded (nothing was queued).
            Exception: whatever ``encode`` raised for this request's batch.
        """
        loop = asyncio.get_running_loop()
        with self._lock:  # loops in different threads may share this batcher
            queue = self._queues.get(loop)
            if queue is None:
                queue = self._queues[loop] = _LoopQueue(loop, self)
        return await queue.submit(key, items, encode)


__all__ = ["EncodeFn", "MicroBatcher", "QueueFullError"]
