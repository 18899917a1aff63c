"""The error hierarchy of sbert-plugins.

Every error raised on purpose by the project derives from :class:`SbertPluginsError`, so callers can
catch one class; the subclasses also derive from the matching built-in (``ValueError``,
``ImportError``) so generic handlers keep working.
"""

from __future__ import annotations


class SbertPluginsError(Exception):
    """Base class of every error raised on purpose by sbert-plugins."""


class ConfigError(SbertPluginsError, ValueError):
    """An argument or a configuration file is invalid: the message names the key and what is valid."""


class ModelNotFoundError(SbertPluginsError, OSError):
    """A model name or path could not be resolved: the message lists every place that was tried."""


class UnsafeModelError(SbertPluginsError, ValueError):
    """Loading would run untrusted code or unpickle weights, and the caller did not opt in."""


class MissingDependencyError(SbertPluginsError, ImportError):
    """An optional dependency is missing: the message gives the ``pip install`` command that adds it."""


class IntegrationError(SbertPluginsError):
    """A vector store or framework integration failed: the message says what was written so far."""


class DataError(SbertPluginsError, ValueError):
    """Input data is malformed: the message names the file and line, or the index or id, at fault."""


def missing_dependency(package: str, extra: str) -> MissingDependencyError:
    """Build the error raised when ``package`` is needed but not installed (``extra`` adds it)."""
    return MissingDependencyError(
        f'{package!r} is not installed; install it with: pip install "sbert-plugins[{extra}]"'
    )
