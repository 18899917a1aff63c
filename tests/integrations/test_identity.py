"""A collection knows which model wrote it: fingerprint-salted hashes, the model recorded in the collection's
metadata, a refusal naming both models, and ``reencode`` rewriting every stored vector in place (Qdrant, Chroma)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from integrations._base import BaseIngestor
from integrations._identity import FINGERPRINT_KEY, MODEL_KEY, ModelIdentity, plan_write
from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import IntegrationError
from tests.integrations.corpus import make_docs

pytest.importorskip("qdrant_client")
pytest.importorskip("chromadb")

STORES = ["qdrant", "chroma"]


def open_store(kind: str, model: SentenceEncoder, folder: Path, **options: Any) -> BaseIngestor:
    if kind == "qdrant":
        from integrations.qdrant import QdrantIngestor

        return QdrantIngestor(model, "docs", path=folder / "q", upload_batch_size=8, **options)
    from integrations.chroma import ChromaIngestor

    return ChromaIngestor(model, "docs", path=folder / "c", upload_batch_size=8, **options)


def stored_vectors(ingestor: BaseIngestor) -> dict[str, np.ndarray]:
    """Stored vector per caller id, scaled to unit length (Qdrant keeps cosine vectors normalised)."""
    if ingestor.__class__.__name__ == "QdrantIngestor":
        points, _ = ingestor.client.scroll("docs", limit=1000, with_payload=True, with_vectors=True)  # type: ignore[attr-defined]
        pairs = [(p.payload["_doc_id"] or p.payload["page_content"], p.vector) for p in points]
    else:
        found = ingestor.client.get_collection("docs").get(include=["embeddings", "metadatas", "documents"])  # type: ignore[attr-defined]
        pairs = [
            (m.get("_doc_id") or d, e)
            for m, d, e in zip(found["metadatas"], found["documents"], found["embeddings"], strict=True)
        ]
    return {key: np.asarray(v) / np.linalg.norm(v) for key, v in pairs}


def collection_metadata(ingestor: BaseIngestor) -> dict[str, Any]:
    if ingestor.__class__.__name__ == "QdrantIngestor":
        return dict(ingestor.client.get_collection("docs").config.metadata or {})  # type: ignore[attr-defined]
    return dict(ingestor.client.get_collection("docs").metadata or {})  # type: ignore[attr-defined]


def expected(model: SentenceEncoder, docs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    vectors = model.encode_documents([d["text"] for d in docs])
    return {d["id"]: v / np.linalg.norm(v) for d, v in zip(docs, vectors, strict=True)}


def assert_vectors(stored: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(stored) == sorted(want)
    for key, vector in want.items():
        np.testing.assert_allclose(stored[key], vector, rtol=0, atol=1e-5, err_msg=key)


@pytest.fixture()
def retrained(tiny_model_dir: Path) -> SentenceEncoder:
    """The tiny model after a "training step": same folder, same shape, other weights."""
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model


@pytest.mark.parametrize("kind", STORES)
def test_another_models_collection_is_refused_naming_both_and_nothing_is_written(
    kind: str, tiny_encoder: SentenceEncoder, retrained: SentenceEncoder, tmp_path: Path
) -> None:
    docs = make_docs(12)
    with open_store(kind, tiny_encoder, tmp_path) as ingestor:
        ingestor.ingest(docs, show_progress=False)
        metadata = collection_metadata(ingestor)
        assert metadata[FINGERPRINT_KEY] == tiny_encoder.fingerprint
        assert metadata[MODEL_KEY] == tiny_encoder.source
    assert retrained.fingerprint != tiny_encoder.fingerprint and retrained.source == tiny_encoder.source
    with open_store(kind, retrained, tmp_path) as ingestor:
        # Before the fingerprint, the hashes were salted with the model's path: all 12 were "skipped".
        with pytest.raises(IntegrationError) as refused:
            ingestor.ingest([*docs, *make_docs(3, start=50)], show_progress=False)
        message = str(refused.value)
        assert tiny_encoder.fingerprint in message and retrained.fingerprint in message
        assert "--recreate" in message and "--reencode" in message and "--collection" in message
        assert ingestor.count() == 12
        assert_vectors(stored_vectors(ingestor), expected(tiny_encoder, docs))
        with pytest.raises(IntegrationError, match="the query is encoded with model"):
            ingestor.search("a dog", k=2)


@pytest.mark.parametrize("kind", STORES)
def test_reencode_rewrites_every_vector_in_place_then_skips(
    kind: str, tiny_encoder: SentenceEncoder, retrained: SentenceEncoder, tmp_path: Path
) -> None:
    old, kept = make_docs(10), make_docs(4, start=20)  # ``kept`` are not in the second corpus
    with open_store(kind, tiny_encoder, tmp_path) as ingestor:
        ingestor.ingest([*old, *kept], show_progress=False)
        before = stored_vectors(ingestor)
    new = make_docs(10)
    new[3]["text"] = "a young girl sings a new song"
    with open_store(kind, retrained, tmp_path, reencode=True) as ingestor:
        summary = ingestor.ingest(new, show_progress=False)
        assert (summary.reencoded, summary.written, summary.overwritten, summary.skipped) == (14, 1, 1, 9)
        assert "14 stored documents were re-encoded" in str(summary)
        stored = stored_vectors(ingestor)
        assert_vectors(stored, expected(retrained, [*new, *kept]))  # ids kept, no vector of the old model left
        assert not np.allclose(stored["doc-0"], before["doc-0"], atol=1e-3)
        assert collection_metadata(ingestor)[FINGERPRINT_KEY] == retrained.fingerprint
        assert ingestor.search(new[3]["text"], k=1)[0].id == "doc-3"
        hit = next(h for h in ingestor.search(kept[0]["text"], k=3) if h.id == "doc-20")
        assert hit.metadata == kept[0]["metadata"]  # texts and metadata survive the re-encode
        again = ingestor.ingest(new, show_progress=False)
        assert (again.reencoded, again.written, again.skipped) == (0, 0, 10)


@pytest.mark.parametrize("kind", STORES)
def test_an_interrupted_reencode_is_refused_until_run_again(
    kind: str,
    tiny_encoder: SentenceEncoder,
    retrained: SentenceEncoder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = make_docs(20)
    with open_store(kind, tiny_encoder, tmp_path) as ingestor:
        ingestor.ingest(docs, show_progress=False)
    calls: list[int] = []
    original: Callable[..., Any] = retrained.encode_documents

    def fail_on_second_page(texts: Any, **kwargs: Any) -> Any:
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("killed")
        return original(texts, **kwargs)

    monkeypatch.setattr(retrained, "encode_documents", fail_on_second_page)
    with open_store(kind, retrained, tmp_path, reencode=True) as ingestor, pytest.raises(RuntimeError):
        ingestor.ingest(docs, show_progress=False)
    monkeypatch.setattr(retrained, "encode_documents", original)
    for model in (tiny_encoder, retrained):  # half the vectors are each model's: neither may write or search
        with open_store(kind, model, tmp_path) as ingestor:
            with pytest.raises(IntegrationError, match="re-encode .* was interrupted"):
                ingestor.ingest(docs, show_progress=False)
            with pytest.raises(IntegrationError, match="was interrupted"):
                ingestor.search("a dog", k=2)
    with open_store(kind, retrained, tmp_path, reencode=True) as ingestor:
        assert ingestor.ingest(docs, show_progress=False).reencoded == 20
        assert_vectors(stored_vectors(ingestor), expected(retrained, docs))


def test_the_same_model_from_another_folder_skips_everything(
    tiny_encoder: SentenceEncoder, tiny_model_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copied-model"
    shutil.copytree(tiny_model_dir, copy)
    moved = SentenceEncoder(copy, device="cpu")
    with open_store("qdrant", tiny_encoder, tmp_path) as ingestor:
        ingestor.ingest(make_docs(8), show_progress=False)
    with open_store("qdrant", moved, tmp_path) as ingestor:
        # The hash salt is the fingerprint, not the path (which changed): nothing is encoded again.
        summary = ingestor.ingest(make_docs(8), show_progress=False)
        assert (summary.written, summary.skipped) == (0, 8)


def test_a_foreign_collection_is_claimed_when_empty_and_reencoded_on_request(
    tiny_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    pytest.importorskip("langchain_qdrant")
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import models

    from integrations.langchain import SBERTEmbeddings
    from integrations.qdrant import QdrantIngestor

    ingestor = QdrantIngestor(tiny_encoder, "lc", path=":memory:")
    params = models.VectorParams(size=tiny_encoder.embedding_dim, distance=models.Distance.COSINE)
    ingestor.client.create_collection("lc", vectors_config=params)  # made by another tool, empty
    assert ingestor.ingest(make_docs(3), show_progress=False).written == 3  # claimed
    recorded = ModelIdentity.recorded(ingestor.client.get_collection("lc").config.metadata)
    assert recorded == ModelIdentity.of(tiny_encoder)

    other = QdrantVectorStore.from_texts(
        ["a dog runs", "a cat sits"], SBERTEmbeddings(model=tiny_encoder), location=":memory:", collection_name="lc2"
    )
    foreign = QdrantIngestor(tiny_encoder, "lc2", client=other.client)
    with pytest.raises(IntegrationError, match="records no model"):
        foreign.ingest(make_docs(2), show_progress=False)
    ids = sorted(str(p.id) for p in other.client.scroll("lc2", limit=10)[0])
    reencoding = QdrantIngestor(tiny_encoder, "lc2", client=other.client, reencode=True)
    summary = reencoding.ingest(make_docs(2), show_progress=False)
    assert (summary.reencoded, summary.written) == (2, 2)
    assert set(ids) <= {str(p.id) for p in other.client.scroll("lc2", limit=10)[0]}  # LangChain's ids kept
    assert [d.page_content for d in other.similarity_search("a dog runs", k=1)] == ["a dog runs"]


def test_plan_write_rules() -> None:
    model = ModelIdentity("m", "f1")
    recorded = model.metadata()
    assert plan_write("c", recorded, model, empty=False, reencode=False) == "write"
    assert plan_write("c", {}, model, empty=True, reencode=False) == "claim"
    assert plan_write("c", ModelIdentity("m", "f0").metadata(), model, empty=False, reencode=True) == "reencode"
    with pytest.raises(IntegrationError, match=r"model 'm' \(fingerprint f0\).*model 'm' \(fingerprint f1\)"):
        plan_write("c", ModelIdentity("m", "f0").metadata(), model, empty=True, reencode=False)


@pytest.mark.parametrize("target", ["--qdrant", "--chroma"])
def test_cli_refuses_a_retrained_model_and_reencodes_on_request(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from sbert_plugins.cli import main
    from tests.conftest import build_tiny_modules

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": d["id"], "text": d["text"]}) for d in make_docs(6)) + "\n")
    model = tmp_path / "model"
    SentenceEncoder(modules=build_tiny_modules(tmp_path / "a", seed=0), device="cpu").save(model)
    ingest = ["ingest", str(corpus), "--model", str(model), "--device", "cpu", target, str(tmp_path / "store")]
    ingest += ["--collection", "docs", "--quiet"]
    assert main(ingest) == 0
    SentenceEncoder(modules=build_tiny_modules(tmp_path / "b", seed=1), device="cpu").save(model)  # "re-trained"
    capsys.readouterr()
    assert main(ingest) == 2
    assert "--reencode" in capsys.readouterr().err
    assert main([*ingest, "--reencode"]) == 0
    assert "6 stored documents were re-encoded" in capsys.readouterr().out
    assert main([*ingest, "--reencode"]) == 0
    assert "0 written (0 overwritten), 6 skipped" in capsys.readouterr().out
