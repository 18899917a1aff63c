"""The wire format (vendor-free apart from orjson): request bodies checked into calls, results into
response bodies, and errors in the OpenAI error schema.

Errors are ``{"error": {"message", "type", "param", "code"}}`` with these statuses: 400 for a malformed
body (invalid JSON, a missing or mistyped field, an empty input, token ids instead of text), 401 for a
missing or wrong API key, 404 for an unknown model, 413 for a request past the limits (body size,
inputs per request, characters per input) and 503 (with ``Retry-After``) when the queue is full or
the server is shutting down.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import orjson

from integrations.serve.engine import Embedded, Kind
from integrations.serve.settings import ServeSettings

EncodingFormat = Literal["float", "base64"]
ErrorType = Literal["invalid_request_error", "authentication_error", "server_error", "overloaded_error"]


class ApiError(Exception):
    """An error answered to the client as ``status`` with an OpenAI-style error body.

    Args:
        status: the HTTP status.
        message: what was wrong and how to fix it.
        type: the OpenAI error type.
        param: the request field at fault, if any.
        code: a machine-readable reason, if any.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: ErrorType = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        """The JSON error body."""
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return orjson.dumps({"error": error})


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object.

    Raises:
        ApiError: 400 when the body is not valid JSON or not an object.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, f"the request body is not valid JSON ({exc}); send a JSON object", code="invalid_json"
        ) from exc
    if not isinstance(payload, dict):
        raise ApiError(
            400, f"the request body is a JSON {type(payload).__name__}; send a JSON object", code="invalid_json"
        )
    return payload


@dataclass(frozen=True)
class EmbeddingCall:
    """A checked ``POST /v1/embeddings`` request."""

    model: str
    texts: list[str]
    kind: Kind
    encoding_format: EncodingFormat
    dimensions: int | None


@dataclass(frozen=True)
class RerankCall:
    """A checked ``POST /rerank`` request."""

    model: str
    query: str
    documents: list[str]
    top_n: int | None
    return_documents: bool


def check_model(payload: Mapping[str, Any], served: str) -> str:
    """The ``model`` the request names (default: the served one).

    Raises:
        ApiError: 400 when it is not a string, 404 when it is not the served model.
    """
    model = payload.get("model", served)
    if model is None:
        return served
    if not isinstance(model, str):
        raise ApiError(400, f"model must be a string, found {type(model).__name__}", param="model")
    if model != served:
        raise ApiError(
            404,
            f"the model {model!r} is not served here; this server serves {served!r} (see GET /v1/models)",
            param="model",
            code="model_not_found",
        )
    return model


def parse_embedding_request(
    payload: Mapping[str, Any], *, model_id: str, embedding_dim: int, settings: ServeSettings
) -> EmbeddingCall:
    """Check an embeddings request in the OpenAI schema, plus ``input_type`` (``"document"``, the default,
    or ``"query"``), which picks the model's saved prompt.

    Raises:
        ApiError: 400, 404 or 413 as the module docstring lists, naming the field at fault.
    """
    model = check_model(payload, model_id)
    texts = parse_texts(payload.get("input"), "input", settings)
    encoding_format = payload.get("encoding_format") or "float"
    if encoding_format not in ("float", "base64"):
        raise ApiError(
            400, f"encoding_format must be 'float' or 'base64', found {encoding_format!r}", param="encoding_format"
        )
    dimensions = payload.get("dimensions")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 0 < dimensions <= embedding_dim
    ):
        raise ApiError(
            400,
            f"dimensions must be an integer from 1 to {embedding_dim} (the model's dimension), found {dimensions!r}",
            param="dimensions",
        )
    kind = payload.get("input_type") or "document"
    if kind not in ("query", "document"):
        raise ApiError(400, f"input_type must be 'query' or 'document', found {kind!r}", param="input_type")
    return EmbeddingCall(model, texts, cast(Kind, kind), cast(EncodingFormat, encoding_format), dimensions)


def parse_rerank_request(payload: Mapping[str, Any], *, model_id: str, settings: ServeSettings) -> RerankCall:
    """Check a re-rank request: ``query``, ``documents`` (strings), optional ``top_n``, ``return_documents``.

    Raises:
        ApiError: 400, 404 or 413 as the module docstring lists, naming the field at fault.
    """
    model = check_model(payload, model_id)
    query = parse_texts(payload.get("query"), "query", settings, single=True)[0]
    documents = parse_texts(payload.get("documents"), "documents", settings)
    top_n = payload.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n <= 0):
        raise ApiError(400, f"top_n must be a positive integer (or null for all), found {top_n!r}", param="top_n")
    return_documents = payload.get("return_documents", False)
    if not isinstance(return_documents, bool):
        raise ApiError(
            400, f"return_documents must be true or false, found {return_documents!r}", param="return_documents"
        )
    return RerankCall(model, query, documents, top_n, return_documents)


def parse_texts(value: Any, param: str, settings: ServeSettings, *, single: bool = False) -> list[str]:
    """The texts of a request field: a string, or (unless ``single``) a non-empty list of strings, within
    ``settings``' limits.

    Raises:
        ApiError: 400 (missing, mistyped, empty, token ids) or 413 (too many, too long), naming ``param``.
    """
    if value is None:
        raise ApiError(400, f"{param} is required", param=param)
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and not single:
        texts = value
    else:
        expected = "a string" if single else "a string or a list of strings"
        raise ApiError(400, f"{param} must be {expected}, found {type(value).__name__}", param=param)
    if not texts:
        raise ApiError(400, f"{param} is an empty list; send at least one text", param=param, code="empty_input")
    if len(texts) > settings.max_inputs_per_request:
        raise ApiError(
            413,
            f"{param} holds {len(texts)} texts; at most {settings.max_inputs_per_request} per request: split it",
            param=param,
            code="too_many_inputs",
        )
    if _is_token_ids(texts):
        raise ApiError(
            400,
            f"{param} holds token ids; this server tokenizes with its model's own tokenizer: send text "
            "(a string or a list of strings)",
            param=param,
            code="token_ids_not_supported",
        )
    for index, text in enumerate(texts):
        where = param if isinstance(value, str) else f"{param}[{index}]"
        if not isinstance(text, str):
            raise ApiError(400, f"{where} is a {type(text).__name__}; expected a string", param=param)
        if not text:
            raise ApiError(400, f"{where} is an empty string; send text", param=param, code="empty_input")
        if len(text) > settings.max_chars_per_input:
            raise ApiError(
                413,
                f"{where} has {len(text)} characters; at most {settings.max_chars_per_input} per text: "
                "shorten or split it",
                param=param,
                code="input_too_long",
            )
    return texts


def _is_token_ids(texts: list[Any]) -> bool:
    """A list of integers, or a list of lists of integers (the OpenAI API's pre-tokenized input)."""

    def is_int(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    first = texts[0]
    return is_int(first) or (isinstance(first, list) and all(is_int(x) for x in first))


def embedding_response(call: EmbeddingCall, embedded: Embedded) -> bytes:
    """The OpenAI embeddings response: one ``{"object": "embedding", "index", "embedding"}`` per text (a
    list of floats, or base64 of little-endian float32 for ``encoding_format="base64"``), and ``usage``."""
    vectors = embedded.vectors if call.dimensions is None else embedded.vectors[:, : call.dimensions]
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    if call.encoding_format == "base64":
        rows: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in vectors]
    else:
        rows = list(vectors)
    tokens = sum(embedded.token_counts)
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": index, "embedding": row} for index, row in enumerate(rows)],
        "model": call.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def rerank_response(call: RerankCall, scores: list[float], method: str) -> bytes:
    """``{"object": "rerank", "model", "method", "results": [{"index", "relevance_score"[, "document"]}]}``,
    best first (ties keep input order), at most ``top_n`` results."""
    order = sorted(range(len(scores)), key=lambda index: -scores[index])[: call.top_n]
    results: list[dict[str, Any]] = []
    for index in order:
        result: dict[str, Any] = {"index": index, "relevance_score": scores[index]}
        if call.return_documents:
            result["document"] = {"text": call.documents[index]}
        results.append(result)
    return orjson.dumps({"object": "rerank", "model": call.model, "method": method, "results": results})
