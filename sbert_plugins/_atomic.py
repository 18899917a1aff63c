"""Durable writes: every file appears under its final name only when complete and on disk.

A writer fills a temporary name beside the target (unique per process and call, so two writers never
share one), flushes and ``fsync``s it, renames it into place and ``fsync``s the folder, so after a
crash or a power loss each name holds either the old or the new complete file.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_NEARLY_FULL_BYTES = 1 << 20
_DISK_FULL_TEXTS = ("no space left on device", "os error 28", "disk quota exceeded", "os error 122")


@contextmanager
def storage_errors(where: Path) -> Iterator[None]:
    """Re-raise a full disk reported by a library in its own exception type (safetensors names it; torch.save
    only says its stream failed, so a failure with under 1 MiB left on ``where``'s disk counts too) as the
    ``OSError(ENOSPC)`` every caller understands; other errors pass unchanged."""
    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        text = str(exc).lower()
        if not any(marker in text for marker in _DISK_FULL_TEXTS) and not _nearly_full(where):
            raise
        raise OSError(errno.ENOSPC, "No space left on device", str(where)) from exc


def _nearly_full(where: Path) -> bool:
    folder = next((p for p in (where, *where.parents) if p.exists()), None)
    return folder is not None and shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES


def temporary_name(target: Path, suffix: str = "tmp") -> Path:
    """A hidden name beside ``target`` that no other process or call uses (pid + random part)."""
    return target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.{suffix}"


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (``folder`` included) to disk."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))


def replace_durably(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` (replacing it) and flush the folder, so the rename survives a crash."""
    os.replace(source, target)
    fsync_path(target.parent)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a flushed temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        replace_durably(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def staged_file(target: Path) -> Iterator[Path]:
    """Yield a unique temporary path beside ``target``; on success it is flushed and renamed to ``target``,
    on error it is removed (``target`` is left as it was)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(target, "partial")
    try:
        yield temporary
        fsync_path(temporary)
        replace_durably(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_folder_atomically(target: Path, write: Callable[[Path], None]) -> list[str]:
    """Call ``write(folder)`` on a staging folder beside ``target``, then move each file it wrote into
    ``target`` with an atomic rename.

    Nothing under ``target`` changes until ``write`` has finished and its files are on disk; files of
    ``target`` that ``write`` did not produce are left alone. Returns the written files' paths relative
    to ``target`` (with ``/`` separators), sorted.
    """
    target.mkdir(parents=True, exist_ok=True)
    staging = temporary_name(target, "staging")
    staging.mkdir()
    try:
        with storage_errors(target):
            write(staging)
        fsync_tree(staging)
        written = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        touched: set[Path] = set()
        for relative in written:
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, destination)
            touched.add(destination.parent)
        for folder in touched | {target}:
            fsync_path(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
