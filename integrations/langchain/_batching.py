"""Gather concurrent async embedding requests into shared batches (vendor-free).

A coroutine that asks for embeddings puts its texts in the queue of its event loop and waits on a
future. One flusher task per event loop takes everything that has arrived, encodes it in a worker
thread (the event loop keeps running meanwhile), and resolves the futures. Requests that arrive
while a batch is being encoded wait together for the next one, so N concurrent queries cost about
``ceil(N / batch_size)`` forward passes instead of N.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass

Vectors = list[list[float]]
EncodeFn = Callable[[list[str]], Vectors]


@dataclass
class _Request:
    key: Hashable
    texts: list[str]
    encode: EncodeFn
    future: asyncio.Future[Vectors]


class _LoopQueue:
    """The pending requests of one event loop and the task that flushes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[_Request] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, key: Hashable, texts: list[str], encode: EncodeFn) -> Vectors:
        future: asyncio.Future[Vectors] = self._loop.create_future()
        self._pending.append(_Request(key, texts, encode, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = self._loop.create_task(self._flush_until_empty())
        return await future

    async def _flush_until_empty(self) -> None:
        # Yield once so that requests started in the same loop iteration (e.g. by asyncio.gather)
        # join the first batch instead of the first caller running alone.
        await asyncio.sleep(0)
        while self._pending:
            requests, self._pending = self._pending, []
            groups: dict[Hashable, list[_Request]] = {}
            for request in requests:
                if not request.future.done():  # a caller cancelled while waiting
                    groups.setdefault(request.key, []).append(request)
            for group in groups.values():
                await self._encode_group(group)

    async def _encode_group(self, group: list[_Request]) -> None:
        texts = [text for request in group for text in request.texts]
        try:
            vectors = await asyncio.to_thread(group[0].encode, texts)
        except asyncio.CancelledError:
            # The loop is shutting down: nobody will flush the rest, so release every waiter.
            for request in [*group, *self._pending]:
                request.future.cancel()
            self._pending = []
            raise
        except Exception as exc:
            for request in group:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        offset = 0
        for request in group:
            end = offset + len(request.texts)
            if not request.future.done():
                request.future.set_result(vectors[offset:end])
            offset = end


class MicroBatcher:
    """Shares batches between concurrent async callers, with one queue per running event loop.

    ``await batcher.submit(key, texts, encode)`` returns ``encode``'s vectors for ``texts``.
    Requests with equal ``key`` that are waiting at the same time are concatenated and encoded by a
    single ``encode`` call (the first request's), which runs in a worker thread; requests with
    different keys (e.g. queries and documents, which take different prompts) are encoded apart.
    If ``encode`` raises, every request of that batch receives the exception.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = weakref.WeakKeyDictionary()

    async def submit(self, key: Hashable, texts: list[str], encode: EncodeFn) -> Vectors:
        """Encode ``texts`` together with the other requests of the same ``key`` waiting now."""
        loop = asyncio.get_running_loop()
        with self._lock:  # loops in different threads may share this batcher
            queue = self._queues.get(loop)
            if queue is None:
                queue = self._queues[loop] = _LoopQueue(loop)
        return await queue.submit(key, texts, encode)
