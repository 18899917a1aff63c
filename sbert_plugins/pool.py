"""EncodePool: several worker processes, each holding a copy of one encoder, started once and reused.

For one machine with several GPUs (one worker per device) or many CPU cores (workers that split
the cores). Texts are cut into chunks, chunks go to whichever worker is free, results come back
in input order.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sbert_plugins.errors import ConfigError, SbertPluginsError
from sbert_plugins.streaming import chunked
from sbert_plugins.validation import check_texts

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

_STOP = None


def _worker(
    model: SentenceEncoder, device: str, threads: int, tasks: Any, results: Any
) -> None:  # pragma: no cover - runs in a child process
    torch.set_num_threads(threads)
    model.to(device)
    while (task := tasks.get()) is not _STOP:
        call_id, chunk_id, texts, kwargs = task
        try:
            results.put((call_id, chunk_id, model.encode(texts, **kwargs), None))
        except Exception as exc:  # sent back and raised in the parent with the chunk's position
            results.put((call_id, chunk_id, None, f"{type(exc).__name__}: {exc}"))


class EncodePool:
    """A pool of encoding processes; use as a context manager (or call :meth:`close`).

    Several threads may call :meth:`encode` at once: their chunks share the workers, and each call
    gets its own results.

    Args:
        model: the encoder every worker gets a copy of (sent once, at start).
        devices: one worker per entry, e.g. ``["cuda:0", "cuda:1"]``; default: every CUDA device,
            else ``processes`` CPU workers.
        processes: number of CPU workers when no devices are given (default 2).
        threads_per_process: intra-op threads of each worker (default: the CPU threads split evenly).
    """

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        devices: Sequence[str] | None = None,
        processes: int | None = None,
        threads_per_process: int | None = None,
    ) -> None:
        if devices is None:
            count = torch.cuda.device_count()
            devices = [f"cuda:{i}" for i in range(count)] if count else ["cpu"] * (processes or 2)
        if not devices:
            raise ConfigError("EncodePool needs at least one device")
        threads = threads_per_process or max(1, torch.get_num_threads() // len(devices))
        context = mp.get_context("spawn")
        self._tasks = context.Queue()
        self._results = context.Queue()
        self._workers = [
            context.Process(target=_worker, args=(model, device, threads, self._tasks, self._results), daemon=True)
            for device in devices
        ]
        for worker in self._workers:
            worker.start()
        self.devices = list(devices)
        self._dim = model.embedding_dim
        # Concurrent encode calls share the workers: each chunk carries its call's id, and whichever caller
        # is reading the result queue files every answer under its call (see _collect).
        self._calls = itertools.count()
        self._answers: dict[int, dict[int, tuple[np.ndarray | None, str | None]]] = {}
        self._answers_changed = threading.Condition()
        self._reading = False

    def encode(self, sentences: Sequence[str], *, chunk_size: int | None = None, **kwargs: Any) -> np.ndarray:
        """Like :meth:`SentenceEncoder.encode` on a list, spread over the workers; returns a numpy array."""
        if self._workers is None:
            raise SbertPluginsError("this EncodePool is closed; start a new one")
        texts = check_texts(sentences)
        if kwargs.get("convert_to", "numpy") != "numpy":
            raise ConfigError("EncodePool.encode returns numpy arrays; convert_to must be 'numpy'")
        size = chunk_size or max(1, min(5_000, -(-len(texts) // (4 * len(self._workers)))))
        chunks = list(chunked(texts, size))
        if not chunks:
            return np.empty((0, self._dim), dtype=np.float32)
        with self._answers_changed:
            call_id = next(self._calls)
            self._answers[call_id] = {}
        for chunk_id, chunk in enumerate(chunks):
            self._tasks.put((call_id, chunk_id, chunk, kwargs))
        # Every chunk's answer is collected, failed or not, so none is left behind for the next call.
        answers = self._collect(call_id, len(chunks))
        errors = {i: error for i, (_, error) in answers.items() if error is not None}
        if errors:
            first = min(errors)
            raise SbertPluginsError(f"encoding chunk {first} (texts from index {first * size}) failed: {errors[first]}")
        return np.concatenate([answers[i][0] for i in range(len(chunks))])  # type: ignore[misc]

    def _collect(self, call_id: int, expected: int) -> dict[int, tuple[np.ndarray | None, str | None]]:
        """Wait for the ``expected`` answers of call ``call_id``; one caller at a time reads the result queue."""
        with self._answers_changed:
            try:
                while len(self._answers[call_id]) < expected:
                    if self._reading:  # another caller reads: it files our answers and wakes us
                        self._answers_changed.wait(timeout=1.0)
                        continue
                    self._reading = True
                    self._answers_changed.release()
                    try:
                        answer = self._next_answer()
                    finally:
                        self._answers_changed.acquire()
                        self._reading = False
                        self._answers_changed.notify_all()
                    if answer is not None:
                        answer_call, chunk_id, embeddings, error = answer
                        self._answers.setdefault(answer_call, {})[chunk_id] = (embeddings, error)
                return self._answers[call_id]
            finally:
                self._answers.pop(call_id, None)

    def _next_answer(self) -> tuple[int, int, np.ndarray | None, str | None] | None:
        """One answer from the workers, or None after a short wait (raising if a worker died)."""
        try:
            return self._results.get(timeout=1.0)  # type: ignore[no-any-return]
        except queue.Empty:
            dead = [w.pid for w in self._workers if not w.is_alive()]
            if dead:
                raise SbertPluginsError(
                    f"encoding worker(s) {dead} died; close this pool and start a new one"
                ) from None
            return None

    def close(self) -> None:
        """Stop the workers and wait for them to exit."""
        if self._workers is None:
            return
        for _ in self._workers:
            self._tasks.put(_STOP)
        for worker in self._workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
        self._workers = None  # type: ignore[assignment]

    def __enter__(self) -> EncodePool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
