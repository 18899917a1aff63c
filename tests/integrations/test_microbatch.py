"""MicroBatcher's bounds: items per batch, the bounded wait and the bounded queue (vendor-free)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from integrations.microbatch import MicroBatcher, QueueFullError
from sbert_plugins.errors import ConfigError


class Recorder:
    """An ``encode`` that returns each item doubled and remembers the size of every call."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        return [2 * item for item in items]


def test_batches_hold_whole_requests_up_to_the_cap() -> None:
    encode = Recorder()
    batcher = MicroBatcher(max_batch_items=4)

    async def run() -> list[list[int]]:
        requests = [[10 * r + i for i in range(size)] for r, size in enumerate([2, 2, 2, 5, 1])]
        return [list(x) for x in await asyncio.gather(*(batcher.submit("k", items, encode) for items in requests))]

    results = asyncio.run(run())
    assert results == [[0, 2], [20, 22], [40, 42], [60, 62, 64, 66, 68], [80]]
    assert [len(call) for call in encode.calls] == [4, 2, 5, 1]  # a request over the cap is a batch alone


def test_the_wait_gathers_requests_that_arrive_a_little_later() -> None:
    encode = Recorder()
    batcher = MicroBatcher(max_wait_s=5.0, max_batch_items=3)

    async def run() -> None:
        first = asyncio.ensure_future(batcher.submit("k", [1], encode))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit("k", [2], encode))
        await asyncio.sleep(0.05)
        third = asyncio.ensure_future(batcher.submit("k", [3], encode))  # the batch is full: no 5 s wait
        assert [list(x) for x in await asyncio.wait_for(asyncio.gather(first, second, third), 4)] == [[2], [4], [6]]

    asyncio.run(run())
    assert encode.calls == [[1, 2, 3]]


def test_a_full_queue_refuses_without_queueing_and_recovers() -> None:
    release = threading.Event()
    encode = Recorder()

    def slow(items: list[int]) -> list[int]:
        release.wait(timeout=10)
        return encode(items)

    batcher = MicroBatcher(max_queued_items=3)

    async def run() -> None:
        running = asyncio.ensure_future(batcher.submit("k", [1], slow))
        await asyncio.sleep(0.05)
        assert batcher.queued_items == 0  # the first request is being encoded, not queued
        queued = asyncio.ensure_future(batcher.submit("k", [2, 3, 4], slow))
        await asyncio.sleep(0.01)
        assert batcher.queued_items == 3
        with pytest.raises(QueueFullError, match="at most 3"):
            await batcher.submit("k", [5], slow)
        assert batcher.queued_items == 3
        release.set()
        assert list(await running) == [2]
        assert list(await queued) == [4, 6, 8]
        assert list(await batcher.submit("k", [5], slow)) == [10]

    asyncio.run(run())


def test_a_failing_request_fails_alone() -> None:
    encode = Recorder()

    def picky(items: list[int]) -> list[int]:
        if any(item < 0 for item in items):
            raise ValueError("negative item")
        return encode(items)

    batcher = MicroBatcher()

    async def run() -> list[object]:
        requests = [[1, 2], [-1], [3]]
        return await asyncio.gather(*(batcher.submit("k", items, picky) for items in requests), return_exceptions=True)

    good, bad, other = asyncio.run(run())
    assert list(good) == [2, 4] and list(other) == [6]  # type: ignore[call-overload]
    assert isinstance(bad, ValueError)
    assert encode.calls == [[1, 2], [3]]


@pytest.mark.parametrize(
    "kwargs", [{"max_wait_s": -1}, {"max_batch_items": 0}, {"max_queued_items": True}, {"max_batch_items": 2.5}]
)
def test_invalid_bounds(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        MicroBatcher(**kwargs)
