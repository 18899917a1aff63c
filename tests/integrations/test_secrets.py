"""Credentials never reach a repr, a validation error or a log line (issue #19 point 7; before the fix
``QdrantTarget.api_key`` was a plain string and retry warnings quoted URLs with their password)."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from integrations._retry import RetryError, RetryPolicy, call_with_retry, redact_secrets
from integrations.ray import ChromaTarget, QdrantTarget


def test_target_keys_are_secret_in_repr_and_validation_errors() -> None:
    target = QdrantTarget(collection="c", url="http://qdrant:6333", api_key="s3cret-key")
    assert "s3cret-key" not in repr(target) and "s3cret-key" not in str(target.model_dump())
    assert target.api_key is not None and target.api_key.get_secret_value() == "s3cret-key"
    with pytest.raises(ValidationError) as failed:
        QdrantTarget(collection="c", url="ftp://qdrant", api_key="s3cret-key")
    assert "s3cret-key" not in str(failed.value)
    chroma = ChromaTarget(collection="c", url="http://chroma:8000", headers={"Authorization": "Bearer t0ken"})
    assert "t0ken" not in repr(chroma)


def test_retry_logs_and_errors_hide_credentials(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def failing() -> None:
        calls.append(1)
        raise ConnectionError("cannot reach http://admin:hunter2@db.example:6333/collections?api_key=abc123")

    with caplog.at_level(logging.WARNING), pytest.raises(RetryError) as failed:
        call_with_retry(failing, RetryPolicy(attempts=2, initial_delay=0), what="upsert", sleep=lambda _: None)
    assert len(calls) == 2
    for text in (caplog.text, str(failed.value)):
        assert "hunter2" not in text and "abc123" not in text
        assert "http://***@db.example:6333" in text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("https://user:pw@host/x", "pw"),
        ("api-key: k3y and more", "k3y"),
        ('{"authorization": "Bearer abc.def"}', "abc.def"),
        ("token=zzz&next=1", "zzz"),
    ],
)
def test_redaction(text: str, hidden: str) -> None:
    assert hidden not in redact_secrets(text)


def test_the_qdrant_ingestor_takes_a_secret_key(tiny_encoder: object) -> None:
    pytest.importorskip("qdrant_client")
    from pydantic import SecretStr

    from integrations.qdrant import QdrantIngestor

    ingestor = QdrantIngestor(tiny_encoder, "c", url="http://127.0.0.1:9", api_key=SecretStr("k3y"))  # type: ignore[arg-type]
    ingestor.close()
