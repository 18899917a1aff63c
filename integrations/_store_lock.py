"""One writer per embedded store folder: an exclusive lock that names the process holding it."""

from __future__ import annotations

import os
import weakref
from pathlib import Path

from sbert_plugins.errors import IntegrationError

LOCK_FILE = ".sbert-plugins.lock"

try:  # POSIX; elsewhere embedded stores rely on their own locking
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class StoreLock:
    """Hold an exclusive lock on an embedded store's ``folder`` until :meth:`release` (or process exit).

    The lock is ``folder/.sbert-plugins.lock``, locked with ``flock`` and holding the owner's process
    id; the operating system drops it when the process dies, so a killed ingest never leaves it stuck.

    Args:
        folder: the store's folder (created if missing).
        store: the store's name for the message (``"Qdrant"``, ``"Chroma"``).

    Raises:
        IntegrationError: another ingestor (in this or another process) holds the folder.
    """

    def __init__(self, folder: Path, store: str) -> None:
        self.folder = folder
        self._fd: int | None = None
        if fcntl is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise IntegrationError(
                f"the embedded {store} store {folder} is in use by process {holder}; wait for that ingest to finish "
                f"(or stop it), or write through a {store} server (url=) to ingest from several processes"
            ) from exc
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode("ascii"), 0)
        self._fd = descriptor
        self._finalizer = weakref.finalize(self, os.close, descriptor)

    def release(self) -> None:
        """Let other processes open the folder (idempotent)."""
        if self._fd is not None:
            self._fd = None
            self._finalizer()  # closing the descriptor drops the lock
