"""Prometheus metrics of the server, in a registry of its own (two servers in one process never mix)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    """Requests, errors, queue depth, batch sizes (texts and tokens) and latencies.

    Args:
        queued_texts: returns how many texts wait to be encoded (read at each scrape).

    Metric names (all prefixed ``sbert_``): ``requests_total{endpoint,status}``,
    ``errors_total{endpoint,status}``, ``request_latency_seconds{endpoint}``, ``requests_in_flight``,
    ``queued_texts``, ``batch_texts{kind}``, ``batch_tokens{kind}``, ``batch_seconds{kind}``.
    """

    def __init__(self, queued_texts: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("sbert_requests", "HTTP requests answered", ["endpoint", "status"], registry=registry)
        self.errors = Counter(
            "sbert_errors", "HTTP requests answered with a 4xx or 5xx status", ["endpoint", "status"], registry=registry
        )
        self.latency = Histogram(
            "sbert_request_latency_seconds",
            "time from request to response",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge("sbert_requests_in_flight", "requests being answered", registry=registry)
        queue = Gauge("sbert_queued_texts", "texts waiting to be encoded", registry=registry)
        queue.set_function(queued_texts)
        self.batch_texts = Histogram(
            "sbert_batch_texts",
            "texts (or pairs) per encoded batch",
            ["kind"],
            buckets=_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_tokens = Histogram(
            "sbert_batch_tokens", "tokens per encoded batch", ["kind"], buckets=_TOKEN_BUCKETS, registry=registry
        )
        self.batch_seconds = Histogram(
            "sbert_batch_seconds",
            "time to encode one batch",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def observe_batch(self, kind: str, texts: int, tokens: int | None, seconds: float) -> None:
        """Record one encoded batch (called from the worker thread; prometheus_client is thread-safe)."""
        self.batch_texts.labels(kind).observe(texts)
        if tokens is not None:
            self.batch_tokens.labels(kind).observe(tokens)
        self.batch_seconds.labels(kind).observe(seconds)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.requests.labels(endpoint, str(status)).inc()
        if status >= 400:
            self.errors.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
