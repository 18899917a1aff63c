"""POST /rerank: the embedding model's similarity, a cross-encoder's scores, and the fusion of both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from integrations.serve import ServeSettings
from integrations.serve.app import create_app
from sbert_plugins import SentenceEncoder
from sbert_plugins.cross_encoder import CrossEncoder, fuse_scores
from sbert_plugins.cross_encoder.fusion import reranker_scores
from sbert_plugins.cross_encoder.fusion_record import FusionRecord, write_fusion_record
from sbert_plugins.errors import ConfigError
from tests.integrations.serve.conftest import MODEL_ID, RunningServer, running
from tests.sbert_plugins.cross_encoder_tiny import build_tiny_classifier

QUERY = "who plays the guitar"
DOCUMENTS = ["a man plays the guitar", "the cat sleeps", "a woman plays the piano in the park", "red car"]


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> CrossEncoder:
    return CrossEncoder(build_tiny_classifier(tmp_path_factory.mktemp("ce") / "model"), device="cpu")


@pytest.fixture(scope="module")
def fused_server(encoder: SentenceEncoder, cross_encoder: CrossEncoder) -> Iterator[RunningServer]:
    settings = ServeSettings(model_id=MODEL_ID, reranker_id="tiny-ce", fusion_weight=0.3)
    with running(encoder, settings, cross_encoder=cross_encoder) as started:
        yield started


def _similarities(encoder: SentenceEncoder) -> np.ndarray:
    query = encoder.encode_queries([QUERY])
    return encoder.similarity(query, encoder.encode_documents(DOCUMENTS)).numpy().reshape(-1)


def _check_ranking(body: dict, expected: np.ndarray, top_n: int | None = None) -> None:
    order = np.argsort(-expected, kind="stable")[:top_n]
    assert [result["index"] for result in body["results"]] == order.tolist()
    np.testing.assert_allclose([result["relevance_score"] for result in body["results"]], expected[order], atol=1e-5)


def test_without_a_reranker_the_score_is_the_models_similarity(server: RunningServer, encoder: SentenceEncoder) -> None:
    response = httpx.post(server.url + "/rerank", json={"query": QUERY, "documents": DOCUMENTS, "top_n": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "similarity" and body["model"] == MODEL_ID
    _check_ranking(body, _similarities(encoder), top_n=2)
    assert "document" not in body["results"][0]


def test_a_reranker_mixed_by_the_fusion_rule(
    fused_server: RunningServer, encoder: SentenceEncoder, cross_encoder: CrossEncoder
) -> None:
    body = {"model": "tiny-ce", "query": QUERY, "documents": DOCUMENTS, "return_documents": True}
    response = httpx.post(fused_server.url + "/rerank", json=body)
    assert response.status_code == 200, response.text
    logits = reranker_scores(cross_encoder, [(QUERY, document) for document in DOCUMENTS])
    expected = fuse_scores(_similarities(encoder), logits, 0.3)
    _check_ranking(response.json(), expected)
    assert response.json()["method"] == "fusion"
    assert [r["document"]["text"] for r in response.json()["results"]] == [
        DOCUMENTS[r["index"]] for r in response.json()["results"]
    ]
    assert fused_server.metric("sbert_batch_texts_sum", kind="rerank") == len(DOCUMENTS)


def test_the_weight_recorded_in_the_rerankers_folder_is_used_and_checked(
    encoder: SentenceEncoder, tmp_path: Path, tiny_model_dir: Path
) -> None:
    folder = build_tiny_classifier(tmp_path / "ce-with-record")
    cross_encoder = CrossEncoder(folder, device="cpu")
    record = FusionRecord(0.7, encoder.fingerprint, "tiny", 30, cross_encoder.fingerprint)
    write_fusion_record(folder, record)
    with running(encoder, ServeSettings(), cross_encoder=CrossEncoder(folder, device="cpu")) as server:
        response = httpx.post(server.url + "/rerank", json={"query": QUERY, "documents": DOCUMENTS})
    assert response.json()["method"] == "fusion"
    logits = reranker_scores(cross_encoder, [(QUERY, document) for document in DOCUMENTS])
    _check_ranking(response.json(), fuse_scores(_similarities(encoder), logits, 0.7))
    other = SentenceEncoder(tiny_model_dir, device="cpu", prompts={"query": "q: "})  # another fingerprint
    with pytest.raises(ConfigError, match="was tuned with the bi-encoder tiny"):
        create_app(other, ServeSettings(), cross_encoder=CrossEncoder(folder, device="cpu"))


def test_a_reranker_alone(encoder: SentenceEncoder, cross_encoder: CrossEncoder) -> None:
    with running(encoder, ServeSettings(), cross_encoder=cross_encoder) as server:
        response = httpx.post(server.url + "/rerank", json={"query": QUERY, "documents": DOCUMENTS})
    assert response.json()["method"] == "cross-encoder"
    _check_ranking(response.json(), cross_encoder.predict([(QUERY, document) for document in DOCUMENTS]))


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": QUERY, "documents": []}, 400, "documents"),
        ({"query": "", "documents": DOCUMENTS}, 400, "query"),
        ({"query": ["a", "b"], "documents": DOCUMENTS}, 400, "query"),
        ({"documents": DOCUMENTS}, 400, "query"),
        ({"query": QUERY, "documents": DOCUMENTS, "top_n": 0}, 400, "top_n"),
        ({"query": QUERY, "documents": DOCUMENTS, "return_documents": "yes"}, 400, "return_documents"),
        ({"model": "tiny", "query": QUERY, "documents": DOCUMENTS}, 404, "model"),
        ({"query": QUERY, "documents": ["d"] * 65}, 413, "documents"),
    ],
)
def test_bad_rerank_requests(fused_server: RunningServer, body: dict, status: int, param: str) -> None:
    settings_limit = ServeSettings(model_id=MODEL_ID)  # the fused server keeps the default limits
    if status == 413:
        body = {**body, "documents": ["d"] * (settings_limit.max_inputs_per_request + 1)}
    response = httpx.post(fused_server.url + "/rerank", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_a_multi_label_reranker_is_refused(encoder: SentenceEncoder, tmp_path: Path) -> None:
    from integrations.serve import create_app
    from sbert_plugins.errors import ConfigError

    two_labels = CrossEncoder(build_tiny_classifier(tmp_path / "two", num_labels=2), device="cpu")
    with pytest.raises(ConfigError, match="num_labels=2"):
        create_app(encoder, cross_encoder=two_labels)
    with pytest.raises(ConfigError, match="fusion_weight"):
        create_app(encoder, ServeSettings(fusion_weight=0.5))
