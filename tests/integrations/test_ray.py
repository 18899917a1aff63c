"""Ray Data scale-out: embed_dataset parity, the Chroma (server) and Qdrant (embedded) ingest paths, the CLI.

One local Ray instance (2 CPUs) serves the whole module: Ray takes seconds to start.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from integrations.ray import (  # noqa: E402
    ActorSettings,
    ChromaTarget,
    Embedder,
    QdrantTarget,
    embed_dataset,
    ingest_dataset,
    read_jsonl,
)
from integrations.ray._embed import ray_module  # noqa: E402
from integrations.ray._write import REJECT, STATE, IngestEmbedder, Writer, _Tally, validate_batch  # noqa: E402
from sbert_plugins import SentenceEncoder  # noqa: E402
from sbert_plugins.errors import ConfigError, DataError, IntegrationError, MissingDependencyError  # noqa: E402
from tests.integrations.corpus import make_docs, make_text  # noqa: E402


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray instance with 2 CPUs, started once for this module and stopped after it."""
    if ray.is_initialized():
        pytest.skip("another Ray instance is already running in this process")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


def stored(url: str, collection: str) -> dict[str, Any]:
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]))
    return client.get_collection(collection).get(include=["metadatas", "documents", "embeddings"])


# ---- without a Ray instance -------------------------------------------------------------------


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "sbert-plugins\[ray\]"'):
        ray_module()


def test_validation_follows_the_ingestor_rules() -> None:
    rows = pa.Table.from_pylist(
        [
            {"_id": "a", "title": "Harp", "body": "a string instrument", "metadata": '{"year": 1}'},
            {"_id": "b", "title": None, "body": "", "metadata": None},
            {"_id": "c", "title": None, "body": "ok", "metadata": "not json"},
        ]
    )
    out = validate_batch(rows, text_column="body", salt="s", check=None)
    assert list(out["_text"]) == ["Harp a string instrument", None, None]
    assert json.loads(out["_metadata_json"][0]) == {"year": 1, "title": "Harp"}
    assert list(out[STATE]) == ["new", REJECT, REJECT] and list(out["_encode"]) == [True, False, False]
    assert out["_reason"][1] == "text is empty" and "'metadata' must be an object" in out["_reason"][2]
    from integrations._ingest import make_document

    same = make_document({"_id": "a", "title": "Harp", "text": "a string instrument", "year": 1}, "x", salt="s")
    assert (out["_point_id"][0], out["_content_hash"][0]) == (same.point_id, same.content_hash)  # type: ignore[union-attr]


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        embed_dataset(object(), "m", concurrency=(2, 1))
    with pytest.raises(ConfigError, match="batch_size"):
        embed_dataset(object(), "m", batch_size=0)
    with pytest.raises(ValueError, match="exactly one of url"):
        ChromaTarget(collection="c")
    target = QdrantTarget(collection="c", url="http://localhost:6333", hybrid=True)
    assert QdrantTarget.model_validate_json(target.model_dump_json()) == target


def test_an_unreachable_server_fails_before_any_ray_work(tiny_model_dir: Path) -> None:
    pytest.importorskip("chromadb")
    from integrations._retry import RetryPolicy
    from tests.integrations.conftest import free_port

    target = ChromaTarget(collection="c", url=f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(attempts=1))
    with pytest.raises(IntegrationError, match=r"(?s)127\.0\.0\.1.*0 documents were written"):
        ingest_dataset(object(), tiny_model_dir, target)  # the dataset is never touched


def test_worker_side_look_up_and_write_in_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The actors' code (look-up, embed, write, counts) run here, on an embedded Qdrant, without Ray."""
    pytest.importorskip("qdrant_client")
    target = QdrantTarget(collection="w", path=str(tmp_path / "q"), upload_batch_size=4)
    with target.open(str(tiny_model_dir)) as ingestor:
        ingestor.open_for_writing()  # the driver creates the collection from the model
        salt = ingestor.hash_salt()
    table = pa.Table.from_pylist([*make_docs(10), {"id": "x", "text": None, "metadata": {"n": 0, "parity": "x"}}])

    def one_pass() -> tuple[dict[str, Any], dict[str, Any]]:
        embedder = IngestEmbedder(str(tiny_model_dir), ActorSettings(), "text", salt, None, target)
        rows = embedder(table)
        embedder.ingestor.close()  # an embedded store admits one client at a time
        writer = Writer(target)
        counts = writer(rows)
        writer.ingestor.close()
        return rows, {k: v[0] for k, v in counts.items()}

    rows, counts = one_pass()
    assert list(rows[STATE]) == ["new"] * 10 + [REJECT]
    assert (counts["written"], counts["skipped"], json.loads(counts["rejected"])[0][0]) == (10, 0, "x")
    rows, again = one_pass()
    assert list(rows[STATE]) == ["skip"] * 10 + [REJECT] and not rows["_embedding"].any()
    assert (again["written"], again["skipped"]) == (0, 10)
    tally = _Tally()
    tally.add(counts)
    tally.add(counts)  # the same points written twice in one job: duplicates, counted once
    summary = tally.summary("w", 1.0)
    assert summary.written == 10 and len(summary.rejected) == 1 + 1 + 10
    assert sum("duplicate" in r.reason for r in summary.rejected) == 10


# ---- on the local Ray instance ----------------------------------------------------------------


def test_embed_dataset_equals_encode(ray_local: Any, tiny_model_dir: Path) -> None:
    texts = [make_text(i) for i in range(40)]
    ds = ray_local.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    expected = SentenceEncoder(tiny_model_dir, device="cpu").encode_documents(texts)
    rows = embed_dataset(ds, tiny_model_dir, concurrency=2, batch_size=8, encode_batch_size=4).take_all()
    rows.sort(key=lambda r: r["id"])
    assert [r["text"] for r in rows] == texts
    got = np.stack([r["embedding"] for r in rows])
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_actor_class_with_an_encoder_object_a_query_role_and_normalisation(tiny_model_dir: Path) -> None:
    # What each actor runs, called here directly (Ray would pickle the encoder to the actors: check that too).
    encoder = SentenceEncoder(tiny_model_dir, device="cpu", prompts={"query": "query: "})
    settings = ActorSettings(encode_batch_size=3)
    actor = Embedder(pickle.loads(pickle.dumps(encoder)), settings, "body", "q", role="query", normalize=True)
    texts = [make_text(i) for i in range(7)]
    out = actor({"body": np.array(texts, dtype=object), "id": np.arange(7)})
    assert list(out["id"]) == list(range(7))
    np.testing.assert_allclose(out["q"], encoder.encode_queries(texts, normalize=True), atol=1e-5)
    with pytest.raises(DataError, match="no column 'text'"):
        Embedder(tiny_model_dir, settings, "text", "e")({"body": np.array(texts, dtype=object)})


@pytest.mark.server
def test_chroma_server_every_document_exactly_once_also_when_run_twice(
    ray_local: Any, tiny_model_dir: Path, chroma_url: str
) -> None:
    docs: list[dict[str, Any]] = make_docs(60)
    docs.append({"id": "empty", "text": "", "metadata": {"n": -1, "parity": "none"}})
    ds = ray_local.data.from_items(docs)
    target = ChromaTarget(collection="ray-docs", url=chroma_url, recreate=True)
    # The embedding actor takes both CPUs: the writer actor reserves none, so it is still placed.
    options: dict[str, Any] = {"concurrency": 1, "num_cpus": 2, "batch_size": 16, "writers": 1}

    first = ingest_dataset(ds, tiny_model_dir, target, **options)
    assert (first.written, first.overwritten, first.skipped) == (60, 0, 0)
    assert [(r.doc_id, r.reason) for r in first.rejected] == [("empty", "text is empty")]
    records = stored(chroma_url, "ray-docs")
    assert sorted(m["_doc_id"] for m in records["metadatas"]) == sorted(f"doc-{i}" for i in range(60))
    by_id = {
        m["_doc_id"]: (m, d, e) for m, d, e in zip(records["metadatas"], records["documents"], records["embeddings"])
    }
    metadata, text, embedding = by_id["doc-7"]
    assert text == make_text(7) and metadata["n"] == 7 and metadata["parity"] == "odd"
    expected = SentenceEncoder(tiny_model_dir, device="cpu").encode_documents([make_text(7)])[0]
    np.testing.assert_allclose(embedding, expected, atol=1e-5)

    again = ingest_dataset(ds, tiny_model_dir, target.model_copy(update={"recreate": False}), **options)
    assert (again.written, again.skipped, len(again.rejected)) == (0, 60, 1)
    assert len(stored(chroma_url, "ray-docs")["ids"]) == 60

    # The single-process ingestor sees the same ids and hashes: nothing left to write.
    from integrations.chroma import ChromaIngestor

    with ChromaIngestor(SentenceEncoder(tiny_model_dir, device="cpu"), "ray-docs", url=chroma_url) as ingestor:
        summary = ingestor.ingest(docs, show_progress=False)
        assert (summary.written, summary.skipped) == (0, 60)


def test_qdrant_embedded_is_written_by_the_driver_and_the_cli_rerun_writes_nothing(
    ray_local: Any, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client")
    from sbert_plugins.cli import main

    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": d["id"], "title": "T", "text": d["text"], **d["metadata"]}) for d in make_docs(30)]
    corpus.write_text("\n".join([*lines[:5], "{broken", *lines[5:]]) + "\n", encoding="utf-8")
    target = QdrantTarget(collection="docs", path=str(tmp_path / "q"), hybrid=True)

    first = ingest_dataset(read_jsonl(corpus), tiny_model_dir, target, batch_size=8)
    assert (first.written, first.skipped) == (30, 0)
    assert len(first.rejected) == 1 and "invalid JSON" in first.rejected[0].reason

    # The same job again, from the CLI, on the Ray instance this process already runs.
    argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--device", "cpu", "--batch-size", "8"]
    argv += ["--qdrant", str(tmp_path / "q"), "--collection", "docs", "--hybrid", "--quiet", "--ray"]
    assert main(argv) == 0
    assert "0 written (0 overwritten), 30 skipped (already present), 1 rejected" in capsys.readouterr().out
    assert ray_local.is_initialized()  # the CLI left the instance it did not start running

    from integrations.qdrant import QdrantIngestor

    model = SentenceEncoder(tiny_model_dir, device="cpu")
    with QdrantIngestor(model, "docs", path=tmp_path / "q", hybrid=True) as ingestor:
        assert ingestor.count() == 30
        assert ingestor.ingest(corpus, show_progress=False).skipped == 30  # same ids and hashes
        hit = ingestor.search(f"T {make_text(4)}", k=1, mode="dense")[0]
        assert (hit.id, hit.text) == ("doc-4", f"T {make_text(4)}")
        assert hit.metadata == {"n": 4, "parity": "even", "title": "T"}


# ---- learned sparse vectors (a SparseEncoder beside the dense model) ----------------------------


def write_corpus(path: Path, docs: list[dict[str, Any]]) -> Path:
    lines = [json.dumps({"_id": d["id"], "title": "T", "text": d["text"], **d["metadata"]}) for d in docs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored_points(path: Path, collection: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every point of an embedded Qdrant collection by id, and the collection's metadata (the store is closed)."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(path))
    try:
        points, _ = client.scroll(collection, limit=1000, with_payload=True, with_vectors=True)
        return {str(p.id): p for p in points}, dict(client.get_collection(collection).config.metadata or {})
    finally:
        client.close()


def sparse_weights(vector: Any) -> dict[int, float]:
    return dict(zip(vector.indices, vector.values, strict=True))


def assert_same_sparse(got: Any, expected: Any, atol: float = 1e-5) -> None:
    """Equal weights within ``atol``; an index absent on one side weighs 0 there."""
    a, b = sparse_weights(got), sparse_weights(expected)
    assert a and b
    assert max(abs(a.get(i, 0.0) - b.get(i, 0.0)) for i in a.keys() | b.keys()) <= atol


def test_worker_side_sparse_vectors_in_process(tiny_model_dir: Path, tiny_splade_dir: Path, tmp_path: Path) -> None:
    """The server path's actors (look-up, dense + learned sparse embedding, write) run here without Ray: the
    writer gets the vectors the embedding actor computed and never loads the sparse model itself."""
    pytest.importorskip("qdrant_client")
    from integrations.learned_sparse import LearnedSparseEncoder
    from integrations.qdrant_points import LEARNED_SPARSE_VECTOR_NAME

    target = QdrantTarget(collection="w", path=str(tmp_path / "q"), sparse_model=str(tiny_splade_dir))
    with target.open(str(tiny_model_dir)) as ingestor:
        ingestor.open_for_writing()
        salt = ingestor.hash_salt()
        workers, side = target.for_workers(ingestor)
    assert side is not None and (side.model, side.vector_name) == (str(tiny_splade_dir), LEARNED_SPARSE_VECTOR_NAME)
    table = pa.Table.from_pylist(make_docs(6))
    embedder = IngestEmbedder(str(tiny_model_dir), ActorSettings(), "text", salt, None, workers, side)
    rows = embedder(table)
    embedder.ingestor.close()
    writer = Writer(workers)
    assert writer(rows)["written"][0] == 6
    assert not writer.ingestor.learned_sparse.loaded  # type: ignore[attr-defined]
    writer.ingestor.close()
    points, _ = stored_points(tmp_path / "q", "w")
    expected = LearnedSparseEncoder(str(tiny_splade_dir)).encode_documents([d["text"] for d in make_docs(6)])
    by_text = {p.payload["page_content"]: p for p in points.values()}
    for doc, vector in zip(make_docs(6), expected, strict=True):
        assert_same_sparse(by_text[doc["text"]].vector[LEARNED_SPARSE_VECTOR_NAME], vector)


def test_sparse_vectors_a_collection_does_not_store_are_refused(tiny_encoder: SentenceEncoder) -> None:
    pytest.importorskip("qdrant_client")
    from integrations._ingest import make_document
    from integrations.qdrant import QdrantIngestor
    from sbert_plugins.sparse.rows import SparseVector

    doc = make_document(make_docs(1)[0], "x", salt="s")
    vector = SparseVector((1, 4), (0.5, 0.25))
    with QdrantIngestor(tiny_encoder, "d", path=":memory:") as ingestor:  # dense only
        sink = ingestor.open_for_writing().sink
        with pytest.raises(IntegrationError, match="no sparse vectors"):
            sink.prepare([doc], tiny_encoder.encode_documents([doc.text]), {"learned-sparse": [vector]})  # type: ignore[list-item]


@pytest.mark.parametrize("with_ray", [False, True])
def test_the_cli_refuses_a_sparse_model_for_chroma_with_ray_as_without(
    with_ray: bool, tiny_model_dir: Path, tiny_splade_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sbert_plugins.cli import main

    corpus = write_corpus(tmp_path / "corpus.jsonl", make_docs(2))
    argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--chroma", str(tmp_path / "c")]
    argv += ["--collection", "c", "--sparse-model", str(tiny_splade_dir), "--quiet"]
    if with_ray:
        argv.append("--ray")  # the Ray path says what the single-process one says (checked before Ray starts)
    assert main(argv) == 2
    assert "--sparse-model (learned sparse vectors) is available with --qdrant only" in capsys.readouterr().err


def test_ray_ingest_with_a_sparse_model_writes_the_single_process_points(
    ray_local: Any,
    tiny_model_dir: Path,
    tiny_splade_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("qdrant_client")
    from integrations._identity import SPARSE_FINGERPRINT_KEY, SPARSE_MODEL_KEY
    from integrations.learned_sparse import LearnedSparseEncoder
    from integrations.qdrant import QdrantIngestor
    from integrations.qdrant_points import LEARNED_SPARSE_VECTOR_NAME, SPARSE_VECTOR_NAME
    from sbert_plugins.cli import main
    from sbert_plugins.sparse import SparseEncoder

    model, splade = str(tiny_model_dir), str(tiny_splade_dir)
    corpus = write_corpus(tmp_path / "corpus.jsonl", make_docs(24))
    target = QdrantTarget(collection="docs", path=str(tmp_path / "ray"), hybrid=True, sparse_model=splade)
    with monkeypatch.context() as driver:  # the embedding actors compute the sparse vectors, not the driver
        driver.setattr(LearnedSparseEncoder, "encode_documents", lambda *_: pytest.fail("encoded on the driver"))
        first = ingest_dataset(read_jsonl(corpus), model, target, batch_size=8, encode_batch_size=4)
    assert (first.written, first.skipped, first.rejected) == (24, 0, ())
    with QdrantIngestor(model, "docs", path=tmp_path / "one", hybrid=True, sparse_model=splade) as one:
        assert one.ingest(corpus, show_progress=False).written == 24

    got, got_metadata = stored_points(tmp_path / "ray", "docs")
    expected, expected_metadata = stored_points(tmp_path / "one", "docs")
    assert got_metadata == expected_metadata and got_metadata[SPARSE_MODEL_KEY] == splade
    assert got_metadata[SPARSE_FINGERPRINT_KEY] == SparseEncoder(splade, device="cpu").fingerprint
    assert got.keys() == expected.keys()
    for point_id, point in got.items():
        assert point.payload == expected[point_id].payload
        vectors, reference = point.vector, expected[point_id].vector
        assert vectors.keys() == reference.keys() == {"", SPARSE_VECTOR_NAME, LEARNED_SPARSE_VECTOR_NAME}
        np.testing.assert_allclose(vectors[""], reference[""], atol=1e-5)
        assert vectors[SPARSE_VECTOR_NAME] == reference[SPARSE_VECTOR_NAME]  # BM25: term counts, computed alike
        assert_same_sparse(vectors[LEARNED_SPARSE_VECTOR_NAME], reference[LEARNED_SPARSE_VECTOR_NAME])

    # The same job again, from the CLI: nothing new is written.
    argv = ["ingest", str(corpus), "--model", model, "--device", "cpu", "--batch-size", "8", "--quiet", "--ray"]
    argv += ["--qdrant", str(tmp_path / "ray"), "--collection", "docs", "--hybrid"]
    assert main([*argv, "--sparse-model", splade]) == 0
    assert "0 written (0 overwritten), 24 skipped (already present), 0 rejected" in capsys.readouterr().out

    # Another sparse model: refused with both fingerprints before anything runs, then rewritten by --reencode.
    other = tmp_path / "other-splade"
    SparseEncoder.from_transformer(tiny_splade_dir, pooling="sum", device="cpu").save(other)
    other_fingerprint = SparseEncoder(other, device="cpu").fingerprint
    with pytest.raises(IntegrationError, match=rf"(?s)fingerprint.*{other_fingerprint}.*Nothing was written"):
        ingest_dataset(read_jsonl(corpus), model, target.model_copy(update={"sparse_model": str(other)}))
    grown = write_corpus(tmp_path / "grown.jsonl", make_docs(26))
    assert main([*argv[:1], str(grown), *argv[2:], "--sparse-model", str(other), "--reencode"]) == 0
    out = capsys.readouterr().out
    assert "2 written (0 overwritten), 24 skipped" in out and "24 stored documents were re-encoded" in out
    points, metadata = stored_points(tmp_path / "ray", "docs")
    assert (metadata[SPARSE_MODEL_KEY], metadata[SPARSE_FINGERPRINT_KEY]) == (str(other), other_fingerprint)
    by_text = {p.payload["page_content"]: p for p in points.values()}
    texts = [f"T {make_text(i)}" for i in (0, 25)]  # re-encoded on the driver; encoded by an actor
    for text, vector in zip(texts, LearnedSparseEncoder(str(other)).encode_documents(texts), strict=True):
        assert_same_sparse(by_text[text].vector[LEARNED_SPARSE_VECTOR_NAME], vector)
