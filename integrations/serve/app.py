"""The FastAPI application: routes over one :class:`SentenceEncoder` (and optionally a cross-encoder)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from integrations.learned_sparse import LearnedSparseEncoder
from integrations.microbatch import MicroBatcher, QueueFullError
from integrations.serve.engine import EmbeddingEngine
from integrations.serve.gate import Gate, ServingState
from integrations.serve.metrics import ServerMetrics
from integrations.serve.protocol import (
    ApiError,
    embedding_response,
    parse_embedding_request,
    parse_json,
    parse_rerank_request,
    rerank_response,
)
from integrations.serve.rerank import RerankScorer
from integrations.serve.settings import ServeSettings
from integrations.serve.sparse import SparseEngine, parse_sparse_request, sparse_response
from sbert_plugins import SentenceEncoder, SparseEncoder
from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.loading import DEFAULT_MODEL

logger = logging.getLogger(__name__)
JSON = "application/json"


def create_app(
    encoder: SentenceEncoder,
    settings: ServeSettings | None = None,
    *,
    cross_encoder: CrossEncoder | None = None,
    sparse_encoder: LearnedSparseEncoder | None = None,
) -> FastAPI:
    """Build the server's application around loaded models (``settings.model``, ``settings.reranker`` and
    ``settings.sparse_model`` only name them; :func:`load_app` loads them).

    Args:
        encoder: the embedding model, used for inference only.
        settings: limits, API key and names (default: :class:`ServeSettings` defaults).
        cross_encoder: the re-ranker for ``POST /rerank`` (default: the embedding model's similarity).
        sparse_encoder: the learned sparse model for ``POST /embed_sparse`` (:mod:`integrations.serve.sparse`;
            default: none, the endpoint answers 404).

    Returns:
        the FastAPI app; ``app.state.serving`` is its :class:`ServingState` (set ``draining`` to refuse new
        requests with 503) and ``app.state.metrics`` its :class:`ServerMetrics`.

    Raises:
        ConfigError: a cross-encoder with more than one output, or ``fusion_weight`` without a re-ranker.
    """
    settings = settings or ServeSettings()
    model_id = settings.model_id or str(settings.model or encoder.source or DEFAULT_MODEL)
    reranker_id = model_id
    if cross_encoder is not None:
        reranker_id = settings.reranker_id or str(settings.reranker or cross_encoder.source)
    batcher = MicroBatcher(
        max_wait_s=settings.max_wait_ms / 1000,
        max_batch_items=settings.max_batch_texts,
        max_queued_items=settings.max_queued_texts,
    )
    metrics = ServerMetrics(lambda: batcher.queued_items)
    engine = EmbeddingEngine(encoder, batcher, metrics, max_tokens_per_batch=settings.max_tokens_per_batch)
    scorer = RerankScorer(engine, cross_encoder, fusion_weight=settings.fusion_weight, observer=metrics)
    sparse_engine = None if sparse_encoder is None else SparseEngine(sparse_encoder, batcher, metrics)
    sparse_id = None
    if sparse_encoder is not None:
        sparse_id = settings.sparse_model_id or str(settings.sparse_model or sparse_encoder.name)
    state = ServingState()
    overloaded = {"Retry-After": str(settings.retry_after_s)}

    app = FastAPI(title="sbert-plugins", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serving = state
    app.state.metrics = metrics
    app.add_middleware(
        Gate,  # type: ignore[arg-type]
        state=state,
        metrics=metrics,
        api_key=settings.api_key,
        max_request_bytes=settings.max_request_bytes,
        retry_after_s=settings.retry_after_s,
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> Response:
        return Response(error.body(), status_code=error.status, headers=error.headers, media_type=JSON)

    @app.exception_handler(QueueFullError)
    async def _queue_full(request: Request, error: QueueFullError) -> Response:
        message = f"the server is at capacity ({error}); retry after {settings.retry_after_s} s"
        return await _api_error(
            request, ApiError(503, message, type="overloaded_error", code="queue_full", headers=overloaded)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = f"{request.method} {request.url.path}: {error.detail}; the endpoints are POST /v1/embeddings, "
        message += "GET /v1/models, POST /rerank, POST /embed_sparse, GET /health, GET /metrics"
        return await _api_error(request, ApiError(error.status_code, message, code="unknown_url"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        logger.exception("error while answering %s %s", request.method, request.url.path)
        message = f"internal error ({type(error).__name__}); other requests are not affected"
        return await _api_error(request, ApiError(500, message, type="server_error"))

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        call = parse_embedding_request(
            parse_json(await request.body()), model_id=model_id, embedding_dim=encoder.embedding_dim, settings=settings
        )
        embedded = await engine.embed(call.texts, call.kind)
        return Response(embedding_response(call, embedded), media_type=JSON)

    @app.post("/rerank")
    async def rerank(request: Request) -> Response:
        call = parse_rerank_request(parse_json(await request.body()), model_id=reranker_id, settings=settings)
        scores = await scorer.score(call.query, call.documents)
        return Response(rerank_response(call, scores, scorer.method), media_type=JSON)

    @app.post("/embed_sparse")
    async def embed_sparse(request: Request) -> Response:
        call = parse_sparse_request(parse_json(await request.body()), model_id=sparse_id, settings=settings)
        if sparse_engine is None:  # parse_sparse_request answers 404 first
            raise ApiError(404, "no sparse model is served here", code="model_not_found")
        return Response(sparse_response(await sparse_engine.embed(call.texts, call.kind)), media_type=JSON)

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        served = [
            {
                "id": model_id,
                "object": "model",
                "created": 0,
                "owned_by": "sbert-plugins",
                "embedding_dim": encoder.embedding_dim,
                "max_seq_length": encoder.max_seq_length,
                "similarity_fn_name": encoder.similarity_fn_name,
                "prompts": sorted(encoder.prompts),
                "precision": encoder.precision,
            }
        ]
        if cross_encoder is not None:
            served.append({"id": reranker_id, "object": "model", "created": 0, "owned_by": "sbert-plugins"})
        if sparse_id is not None:
            served.append({"id": sparse_id, "object": "model", "created": 0, "owned_by": "sbert-plugins"})
        return {"object": "list", "data": served}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app


def load_app(settings: ServeSettings) -> FastAPI:
    """Load the models ``settings`` names and build the application (see :func:`create_app`); the
    models encode with ``settings.num_threads`` CPU threads (None: the encoder's default).

    Raises:
        ModelNotFoundError, ConfigError: a model cannot be loaded or is unsuitable.
    """
    options: dict[str, Any] = {
        "device": settings.device,
        "precision": settings.precision,
        "num_threads": settings.num_threads,
    }
    encoder = SentenceEncoder(settings.model, **options).eval()
    logger.info("embedding model loaded in %s (%s)", encoder.precision, encoder.precision_reason)
    cross_encoder = None
    if settings.reranker is not None:
        cross_encoder = CrossEncoder(settings.reranker, device=settings.device).eval()
    sparse_encoder = None
    if settings.sparse_model is not None:  # loaded now: a bad folder fails at start, not at the first request
        sparse_encoder = LearnedSparseEncoder(SparseEncoder(settings.sparse_model, **options).eval())
    return create_app(encoder, settings, cross_encoder=cross_encoder, sparse_encoder=sparse_encoder)
