"""The one rule for paths a model folder names: they must stay inside the folder."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from sbert_plugins.errors import UnsafeModelError


def path_inside(folder: Path, relative: str, *, named_in: Path | None = None) -> Path:
    """Return ``folder / relative`` after checking that it resolves inside ``folder``.

    Symbolic links are followed, so a module folder that links elsewhere on disk is refused like an
    absolute path or ``..``.

    Args:
        folder: the model folder.
        relative: a path the folder's config names (``""`` is the folder itself).
        named_in: the config file naming the path, for the error message (default: ``folder``).

    Raises:
        UnsafeModelError: ``relative`` is absolute, or resolves (through ``..`` or a symbolic link) outside
            ``folder``.
    """
    where = named_in if named_in is not None else folder
    if (
        PurePosixPath(relative).is_absolute()
        or PureWindowsPath(relative).is_absolute()
        or PureWindowsPath(relative).drive
    ):
        raise UnsafeModelError(
            f"{where}: module path {relative!r} is absolute; a model folder may only name paths inside itself"
        )
    root = folder.resolve()
    target = (folder / relative).resolve()
    if target != root and root not in target.parents:
        raise UnsafeModelError(
            f"{where}: module path {relative!r} resolves to {target}, outside the model folder {root}; "
            "a model folder may only name paths inside itself (no '..', no symbolic links leading out)"
        )
    return folder / relative
