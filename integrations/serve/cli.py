"""``sbert-plugins serve``: an OpenAI-compatible embeddings and re-rank server over one model.

sbert-plugins serve --model path/to/model [--reranker path/to/cross-encoder [--fusion-weight W]]
    [--sparse-model path/to/splade]
    [--host 127.0.0.1] [--port 8080] [--api-key KEY | $SBERT_PLUGINS_API_KEY]
"""

from __future__ import annotations

import argparse
import logging
import os

from pydantic import SecretStr, ValidationError

from integrations.serve.settings import API_KEY_ENV, ServeSettings
from sbert_plugins.cli import add_model_arguments
from sbert_plugins.errors import ConfigError

logger = logging.getLogger(__name__)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``serve`` sub-command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP: OpenAI-compatible /v1/embeddings, /rerank, /metrics",
        description='Needs the [serve] extra: pip install "sbert-plugins[serve]".',
    )
    add_model_arguments(parser)
    parser.add_argument("--model-id", default=None, help="the model name clients send (default: --model as given)")
    parser.add_argument("--reranker", default=None, help="cross-encoder for /rerank (default: the model's similarity)")
    parser.add_argument("--reranker-id", default=None, help="the re-ranker's name for clients (default: --reranker)")
    parser.add_argument(
        "--sparse-model", default=None, help="a learned sparse model (SparseEncoder) for POST /embed_sparse"
    )
    parser.add_argument(
        "--sparse-model-id", default=None, help="the sparse model's name for clients (default: --sparse-model)"
    )
    fusion = parser.add_mutually_exclusive_group()
    fusion.add_argument(
        "--fusion-weight",
        type=_fusion_weight,
        default="recorded",
        help="with --reranker: mix its standardised logits (this share) with the model's standardised similarity "
        "(default: the weight finetune --reranker-output saved in the re-ranker's folder, if any)",
    )
    fusion.add_argument(
        "--no-fusion",
        dest="fusion_weight",
        action="store_const",
        const=None,
        help="with --reranker: rank by the cross-encoder alone, even when its folder records a fusion weight",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' on every endpoint but /health (default: $SBERT_PLUGINS_API_KEY; "
        "prefer the variable: arguments are visible to other users of the machine)",
    )
    parser.add_argument("--max-inputs", type=int, default=2048, help="texts per request (more: 413)")
    parser.add_argument("--max-chars", type=int, default=50_000, help="characters per text (more: 413)")
    parser.add_argument("--max-queued-texts", type=int, default=8192, help="queued texts before answering 503")
    parser.add_argument("--max-batch-texts", type=int, default=512, help="texts gathered into one encode call")
    parser.add_argument(
        "--max-tokens-per-batch", type=int, default=None, help="token budget of a forward pass (default: the encoder's)"
    )
    parser.add_argument(
        "--max-wait-ms", type=float, default=0.0, help="how long a batch that is not full waits for more (default 0)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op CPU threads for the models (default: $SBERT_PLUGINS_NUM_THREADS, else every CPU this process "
        "may use; on a machine busy with other jobs, one CPU fewer keeps torch's threads from spinning against them)",
    )
    parser.add_argument("--shutdown-timeout", type=int, default=30, help="seconds in-flight requests may take")
    parser.add_argument("--access-log", action="store_true", help="log each request (never its headers)")
    parser.set_defaults(handler=_cmd_serve)


def _fusion_weight(value: str) -> float | str:
    return value if value == "recorded" else float(value)


def _cmd_serve(args: argparse.Namespace) -> int:
    from integrations.serve.server import serve

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    try:
        settings = _settings(args, api_key)
    except ValidationError as exc:
        raise ConfigError(f"invalid serve options: {exc}") from exc
    if settings.host not in _LOOPBACK and settings.api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach it may use it", settings.host)
    serve(settings, log_level="info", access_log=args.access_log)
    return 0


def _settings(args: argparse.Namespace, api_key: str | None) -> ServeSettings:
    return ServeSettings(
        model=args.model,
        model_id=args.model_id,
        reranker=args.reranker,
        reranker_id=args.reranker_id,
        sparse_model=args.sparse_model,
        sparse_model_id=args.sparse_model_id,
        fusion_weight=args.fusion_weight,
        host=args.host,
        port=args.port,
        api_key=SecretStr(api_key) if api_key else None,
        device=args.device,
        precision=args.precision,
        num_threads=args.threads,
        max_inputs_per_request=args.max_inputs,
        max_chars_per_input=args.max_chars,
        max_queued_texts=args.max_queued_texts,
        max_batch_texts=args.max_batch_texts,
        max_tokens_per_batch=args.max_tokens_per_batch,
        max_wait_ms=args.max_wait_ms,
        shutdown_timeout_s=args.shutdown_timeout,
    )
