"""Encode inputs larger than memory: chunked iteration, and a ``.npy`` writer that appends rows.

The writer reserves a fixed-size header, appends chunks as they come and writes the final shape
when closed, so neither the texts nor the embeddings ever need to be held in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from types import TracebackType

import numpy as np

from sbert_plugins.errors import ConfigError, DataError

_MAGIC = b"\x93NUMPY\x01\x00"
_HEADER_BYTES = 128  # magic (8) + length field (2) + the padded dict: room for any 2-D shape


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive lists of at most ``size`` items from ``items`` (which may be a generator)."""
    if not isinstance(size, int) or size <= 0:
        raise ConfigError(f"chunk_size must be a positive integer, found {size!r}")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class NpyWriter:
    """Appends 2-D chunks of one dtype to a ``.npy`` file; use as a context manager.

    Args:
        path: the file to write (replaced if it exists).
        dim: number of columns of every chunk (default: taken from the first chunk).
        dtype: dtype of every chunk (default: taken from the first chunk).
    An empty file (no chunk written) gets shape ``(0, dim)``, float32 unless ``dtype`` says otherwise.
    """

    def __init__(self, path: str | Path, dim: int | None = None, dtype: np.dtype | type | None = None) -> None:
        self.path = Path(path)
        self.dim = dim
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        self._file.write(self._header(0))

    def _header(self, rows: int) -> bytes:
        dtype = self.dtype if self.dtype is not None else np.dtype(np.float32)
        described = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": (rows, self.dim or 0),
        }
        text = repr(described).encode("latin1")
        padding = _HEADER_BYTES - len(_MAGIC) - 2 - len(text) - 1
        return _MAGIC + (_HEADER_BYTES - len(_MAGIC) - 2).to_bytes(2, "little") + text + b" " * padding + b"\n"

    def write(self, chunk: np.ndarray) -> None:
        """Append ``chunk`` (shape ``(n, dim)``, the writer's dtype)."""
        if self.rows == 0 and chunk.ndim == 2:
            self.dim = self.dim if self.dim is not None else chunk.shape[1]
            self.dtype = self.dtype if self.dtype is not None else chunk.dtype
        if chunk.ndim != 2 or chunk.shape[1] != self.dim or chunk.dtype != self.dtype:
            raise DataError(
                f"chunk of shape {chunk.shape} and dtype {chunk.dtype} does not fit {self.path} "
                f"(expected (n, {self.dim}) {self.dtype})"
            )
        self._file.write(np.ascontiguousarray(chunk).tobytes())
        self.rows += len(chunk)

    def close(self) -> None:
        """Write the final row count into the header and close the file."""
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.write(self._header(self.rows))
        self._file.close()

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
