"""Retries with exponential backoff for calls to a vector store, and which errors count as transient.

Transient: the server cannot be reached (connection refused or reset), a timeout, an HTTP 429 or 5xx
answer, a gRPC ``UNAVAILABLE``/``DEADLINE_EXCEEDED``/``RESOURCE_EXHAUSTED``. Everything else (a bad
request, a dimension mismatch) fails at once: retrying would not help. Vendor exceptions are
recognised by duck typing (``status_code``, ``code()``, class names), so this module imports none.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sbert_plugins.errors import IntegrationError

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSPORT_CLASSES = frozenset({"NetworkError", "TimeoutException", "RemoteProtocolError", "ConnectError"})
_TRANSPORT_MODULES = ("httpx", "httpcore", "urllib3", "requests")
_GRPC_TRANSIENT = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})


class RetryPolicy(BaseModel):
    """How often and how patiently to retry a transient error.

    Attempt ``n`` (from 1) that fails waits ``min(max_delay, initial_delay * multiplier ** (n - 1))``
    seconds before the next; after ``attempts`` failures the error is raised as :class:`RetryError`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=6, ge=1, description="tries in all, the first included")
    initial_delay: float = Field(default=0.5, ge=0.0, description="seconds before the first retry")
    multiplier: float = Field(default=2.0, ge=1.0, description="growth of the delay per retry")
    max_delay: float = Field(default=10.0, ge=0.0, description="cap on one delay, in seconds")

    def delays(self) -> Iterator[float]:
        """The waits between attempts (``attempts - 1`` of them)."""
        for n in range(self.attempts - 1):
            yield min(self.max_delay, self.initial_delay * self.multiplier**n)


# user:password@ in a URL, and key=value pairs whose name says they are a credential.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_NAMED_SECRETS = re.compile(
    r"(?P<name>(?:api[_-]?key|token|password|passwd|secret|authorization)[\"']?\s*[=:]\s*[\"']?(?:bearer\s+)?)"
    r"[^\s&\"',;}]+",
    re.IGNORECASE,
)


def redact_secrets(text: str) -> str:
    """``text`` with URL credentials (``user:pass@``) and ``api_key=...``-style values replaced by ``***``:
    error messages of HTTP clients can quote the URL or the request they failed on."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", text)
    return _NAMED_SECRETS.sub(lambda m: f"{m['name']}***", text)


class RetryError(IntegrationError):
    """A transient error persisted through every attempt; ``last_error`` is the final one."""

    def __init__(self, what: str, attempts: int, last_error: BaseException) -> None:
        super().__init__(
            redact_secrets(
                f"{what} failed {attempts} times with a transient error; the last was "
                f"{type(last_error).__name__}: {last_error}. Check that the server is up and reachable"
            )
        )
        self.attempts = attempts
        self.last_error = last_error


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (``__cause__``, qdrant-client's ``source``)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # __context__ is not followed: an error raised while handling a timeout is not a timeout.
        for inner in (current.__cause__, getattr(current, "source", None)):
            if isinstance(inner, BaseException):
                stack.append(inner)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is None and type(exc).__module__.split(".")[0] in ("chromadb", "grpc"):
        code = getattr(exc, "code", None)
        if callable(code):
            try:
                value = code()
            except Exception:  # a vendor object that cannot report a code: not transient on that ground
                return None
            if getattr(value, "name", None) in _GRPC_TRANSIENT:
                return 503
            status = value
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or an error it wraps) is worth retrying: unreachable, timeout, 429 or 5xx."""
    for cause in _causes(exc):
        if isinstance(cause, (ConnectionError, TimeoutError)):
            return True
        module = type(cause).__module__.split(".")[0]
        if module in _TRANSPORT_MODULES and _TRANSPORT_CLASSES & {c.__name__ for c in type(cause).__mro__}:
            return True
        if _status(cause) in TRANSIENT_STATUS:
            return True
    return False


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``, retrying transient errors (see :func:`is_transient`) with backoff.

    Args:
        fn: the call; it must be safe to repeat (upserts with fixed ids are).
        policy: how many attempts and how long to wait between them.
        what: what the call does, for log lines and the error message.
        sleep: the wait function (tests pass a fake).

    Returns:
        what ``fn`` returns.

    Raises:
        RetryError: every attempt failed with a transient error.
        Exception: a non-transient error, unchanged, at its first occurrence.
    """
    delays = policy.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise RetryError(what, attempt, exc) from exc
            logger.warning(
                "%s: transient %s (%s); retry %d of %d in %.1fs",
                redact_secrets(what),
                type(exc).__name__,
                redact_secrets(str(exc)),
                attempt,
                policy.attempts - 1,
                delay,
            )
            sleep(delay)
