"""Fixtures for the LangChain adapter tests: a tiny model saved with query/document prompts, and a
counter of forward passes."""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sbert_plugins import SentenceEncoder

PROMPTS = {"query": "query: ", "document": "passage: "}


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> Generator[None, Any, None]:
    """Mark the async tests of the langchain-tests standard suites with ``asyncio``.

    The suites' async tests carry no mark (LangChain packages run pytest-asyncio in "auto" mode); this
    project uses "strict" mode. ``trylast`` puts this wrapper inside pytest-asyncio's, so the mark is
    there when pytest-asyncio turns coroutine tests into asyncio items. Sync tests stay unmarked.
    """
    outcome = yield
    if not (inspect.iscoroutinefunction(obj) and getattr(obj, "__module__", "").startswith("langchain_tests.")):
        return
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function) and item.get_closest_marker("asyncio") is None:
            item.add_marker(pytest.mark.asyncio)


@pytest.fixture(scope="session")
def prompted_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved again with the prompts {"query": "query: ", "document": "passage: "}."""
    folder = tmp_path_factory.mktemp("tiny-prompted") / "model"
    SentenceEncoder(tiny_model_dir, device="cpu", prompts=PROMPTS).save(folder)
    return folder


class ForwardCounter:
    """Counts the forward passes (calls of the whole module chain) of an encoder."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.calls = 0
        self.batch_sizes: list[int] = []
        self._handle = encoder.register_forward_hook(self._hook)

    def _hook(self, module: object, args: tuple[dict, ...], output: dict) -> None:
        self.calls += 1
        self.batch_sizes.append(int(output["sentence_embedding"].shape[0]))

    def remove(self) -> None:
        self._handle.remove()


@pytest.fixture()
def count_forward() -> Iterator[type[ForwardCounter]]:
    """Attach :class:`ForwardCounter` to encoders; hooks are removed after the test."""
    counters: list[ForwardCounter] = []

    class _Counter(ForwardCounter):
        def __init__(self, encoder: SentenceEncoder) -> None:
            super().__init__(encoder)
            counters.append(self)

    yield _Counter
    for counter in counters:
        counter.remove()
