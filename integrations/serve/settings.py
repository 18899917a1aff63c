"""ServeSettings: what the HTTP server serves, where it listens, and the limits it enforces."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sbert_plugins.device import PrecisionSetting

API_KEY_ENV = "SBERT_PLUGINS_API_KEY"
"""The environment variable ``sbert-plugins serve`` reads the API key from when ``--api-key`` is not given."""


class ServeSettings(BaseModel):
    """Settings of the embeddings / re-rank server, validated at construction.

    Args:
        model: the embedding model (a sentence-transformers folder or Hub id) the server loads.
        model_id: the name clients send as ``model`` (default: ``model`` as given, else the default
            model's id).
        reranker: a cross-encoder folder or id for ``POST /rerank`` (default: none; ``/rerank`` then
            scores with the embedding model's similarity).
        reranker_id: the name of the re-ranker for clients (default: ``reranker`` as given).
        sparse_model: a learned sparse model (a ``SparseEncoder`` folder or id) for ``POST /embed_sparse``
            (default: none; the endpoint then answers 404).
        sparse_model_id: the name of the sparse model for clients (default: ``sparse_model`` as given).
        fusion_weight: with a ``reranker``, score by the project's fusion rule
            (:mod:`sbert_plugins.cross_encoder.fusion`): this share of the cross-encoder's standardised logit
            plus the rest of the embedding model's standardised similarity. ``"recorded"`` (default): the
            weight saved in the re-ranker's folder by ``finetune --reranker-output`` (refused when it was
            tuned with another embedding model), or no fusion when the folder has none; ``None``: the
            cross-encoder alone.
        host, port: where to listen; ``127.0.0.1`` (this machine only) unless told otherwise.
        api_key: when set, every endpoint but ``/health`` needs ``Authorization: Bearer <key>``. A
            ``SecretStr``: it never appears in a repr or a log.
        device, precision: how the models are loaded (see :class:`~sbert_plugins.SentenceEncoder`).
        num_threads: intra-op CPU threads the models encode with (default: the encoder's, i.e.
            ``$SBERT_PLUGINS_NUM_THREADS`` or every CPU the process may use).
        max_inputs_per_request: more texts in one request is a 413.
        max_chars_per_input: a longer text is a 413.
        max_request_bytes: a larger request body is a 413.
        max_queued_texts: texts waiting to be encoded; past it, requests get 503 with ``Retry-After``.
        max_batch_texts: at most this many texts are gathered into one ``encode`` call (which splits
            them into forward passes by its token budget).
        max_tokens_per_batch: the token budget of one forward pass (texts x longest length), passed to
            :meth:`~sbert_plugins.SentenceEncoder.encode` (default: the encoder's).
        max_wait_ms: how long a batch that is not full waits for more requests. Default 0: none, as the
            requests that arrive while a batch is encoded form the next one anyway; on a busy CPU a short
            timed wait costs more (a rescheduling of the process) than it gathers.
        retry_after_s: the ``Retry-After`` the server sends with a 503.
        shutdown_timeout_s: after SIGTERM, how long requests in flight may take to finish.

    Raises:
        pydantic.ValidationError: a misspelt field or a value out of range (``fusion_weight`` without a
            re-ranker is refused by :func:`~integrations.serve.app.create_app`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str | Path | None = None
    model_id: str | None = None
    reranker: str | Path | None = None
    reranker_id: str | None = None
    sparse_model: str | Path | None = None
    sparse_model_id: str | None = None
    fusion_weight: float | Literal["recorded"] | None = "recorded"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_key: SecretStr | None = None
    device: str | None = None
    precision: PrecisionSetting = "fp32"
    num_threads: int | None = Field(default=None, gt=0)
    max_inputs_per_request: int = Field(default=2048, gt=0)
    max_chars_per_input: int = Field(default=50_000, gt=0)
    max_request_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_queued_texts: int = Field(default=8192, gt=0)
    max_batch_texts: int = Field(default=512, gt=0)
    max_tokens_per_batch: int | None = Field(default=None, gt=0)
    max_wait_ms: float = Field(default=0.0, ge=0.0)
    retry_after_s: int = Field(default=1, gt=0)
    shutdown_timeout_s: int = Field(default=30, gt=0)

    @field_validator("fusion_weight")
    @classmethod
    def _weight_in_range(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"fusion_weight must lie in [0, 1], found {value}")
        return value

    @model_validator(mode="after")
    def _check(self) -> ServeSettings:
        if self.api_key is not None and not self.api_key.get_secret_value():
            raise ValueError("api_key is empty: give a non-empty key or none")
        if self.max_queued_texts < self.max_inputs_per_request:
            raise ValueError(
                f"max_queued_texts={self.max_queued_texts} is below max_inputs_per_request="
                f"{self.max_inputs_per_request}: a request within the limits could never be queued"
            )
        return self
