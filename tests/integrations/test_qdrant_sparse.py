"""QdrantIngestor with a learned sparse model: the layout, the recorded sparse identity (refused, re-encoded,
loaded from the record), sparse / hybrid / fusion search against scores computed here, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("qdrant_client")

from qdrant_client import QdrantClient

from integrations._identity import SPARSE_FINGERPRINT_KEY, SPARSE_MODEL_KEY, ModelIdentity
from integrations.hybrid import fuse_candidates
from integrations.learned_sparse import LearnedSparseEncoder
from integrations.qdrant import QdrantIngestor
from integrations.qdrant_points import LEARNED_SPARSE_VECTOR_NAME, SPARSE_VECTOR_NAME
from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from sbert_plugins.errors import ConfigError, IntegrationError
from sbert_plugins.sparse import SparseEncoder, sparse_rows
from tests.integrations.corpus import make_docs, make_text

N_DOCS = 30


def dot(a: object, b: object) -> float:
    """The dot product of two sparse rows."""
    weights = dict(zip(a.indices, a.values, strict=True))  # type: ignore[attr-defined]
    return float(sum(weights.get(i, 0.0) * v for i, v in zip(b.indices, b.values, strict=True)))  # type: ignore[attr-defined]


@pytest.fixture()
def splade(tiny_splade_dir: Path) -> LearnedSparseEncoder:
    return LearnedSparseEncoder(SparseEncoder(tiny_splade_dir, device="cpu"))


@pytest.fixture()
def ingested(tiny_encoder: SentenceEncoder, tiny_splade_dir: Path) -> Iterator[QdrantIngestor]:
    """The corpus in an in-memory collection with dense, BM25 and learned sparse vectors (the model named by path)."""
    ingestor = QdrantIngestor(tiny_encoder, "docs", path=":memory:", hybrid=True, sparse_model=str(tiny_splade_dir))
    assert ingestor.ingest(make_docs(N_DOCS), show_progress=False).written == N_DOCS
    yield ingestor
    ingestor.close()


def test_layout_and_recorded_identity(ingested: QdrantIngestor, tiny_splade_dir: Path) -> None:
    params = ingested.client.get_collection("docs").config.params
    assert set(params.sparse_vectors) == {SPARSE_VECTOR_NAME, LEARNED_SPARSE_VECTOR_NAME}
    assert params.sparse_vectors[SPARSE_VECTOR_NAME].modifier.value == "idf"
    assert params.sparse_vectors[LEARNED_SPARSE_VECTOR_NAME].modifier is None  # the model's weights are the score
    metadata = ingested.client.get_collection("docs").config.metadata
    assert metadata[SPARSE_MODEL_KEY] == str(tiny_splade_dir)
    assert metadata[SPARSE_FINGERPRINT_KEY] == SparseEncoder(tiny_splade_dir, device="cpu").fingerprint
    recorded = ModelIdentity.recorded(metadata)
    assert recorded is not None and recorded.sparse is not None and recorded.sparse.name == str(tiny_splade_dir)


def test_sparse_search_scores_are_the_models_dot_products(
    ingested: QdrantIngestor, splade: LearnedSparseEncoder
) -> None:
    docs = make_docs(N_DOCS)
    query = make_text(4)
    expected = {
        d["id"]: dot(splade.encode_query(query), v)
        for d, v in zip(docs, splade.encode_documents([d["text"] for d in docs]), strict=True)
    }
    hits = ingested.search(query, k=5, mode="sparse")
    assert [h.score for h in hits] == pytest.approx(sorted(expected.values(), reverse=True)[:5], rel=1e-4)
    assert all(h.score == pytest.approx(expected[h.id], rel=1e-4) for h in hits)
    # BM25 is still there, and another side: different scores.
    bm25 = ingested.search(query, k=5, mode="sparse", sparse="bm25")
    assert bm25[0].id == "doc-4" and [h.score for h in bm25] != [h.score for h in hits]


def test_fusion_follows_the_fusion_rule_over_every_candidate(
    ingested: QdrantIngestor, tiny_encoder: SentenceEncoder, splade: LearnedSparseEncoder
) -> None:
    docs = make_docs(N_DOCS)
    texts = [d["text"] for d in docs]
    query = make_text(9)
    dense = tiny_encoder.similarity(tiny_encoder.encode_queries([query]), tiny_encoder.encode_documents(texts))
    sparse_query = splade.encode_query(query)
    dense_scores = {d["id"]: float(s) for d, s in zip(docs, np.asarray(dense).ravel(), strict=True)}
    sparse_scores = {d["id"]: dot(sparse_query, v) for d, v in zip(docs, splade.encode_documents(texts), strict=True)}
    expected = fuse_candidates(dense_scores, sparse_scores, 0.3)[:8]
    # Every document is a candidate (prefetch_k >= the corpus): the other side's score of each is fetched.
    hits = ingested.search(query, k=8, mode="fusion", prefetch_k=N_DOCS, sparse_weight=0.3)
    assert [h.id for h in hits] == [doc for doc, _ in expected]
    assert [h.score for h in hits] == pytest.approx([score for _, score in expected], abs=1e-4)
    # Few candidates per side: still fused from both sides' scores of their union.
    assert len(ingested.search(query, k=5, mode="fusion", prefetch_k=3)) <= 5
    hybrid = ingested.search(query, k=5, mode="hybrid")
    assert len(hybrid) == 5 and hybrid == ingested.search(query, k=5)  # hybrid (RRF, learned) is the default
    with pytest.raises(ConfigError, match="sparse_weight"):
        ingested.search(query, mode="fusion", sparse_weight=1.5)
    with pytest.raises(ConfigError, match="sparse must be"):
        ingested.search(query, sparse="splade")  # type: ignore[arg-type]


def test_another_sparse_model_is_refused_then_reencoded(tiny_encoder: SentenceEncoder, tiny_splade_dir: Path) -> None:
    client = QdrantClient(location=":memory:")
    first = QdrantIngestor(tiny_encoder, "c", client=client, sparse_model=str(tiny_splade_dir))
    first.ingest(make_docs(6), show_progress=False)
    other = SparseEncoder.from_transformer(tiny_splade_dir, pooling="sum", device="cpu")
    with pytest.raises(IntegrationError, match="sparse model") as refused:
        QdrantIngestor(tiny_encoder, "c", client=client, sparse_model=other).ingest(
            make_docs(2, 6), show_progress=False
        )
    assert "Nothing was written" in str(refused.value) and first.count() == 6
    with pytest.raises(IntegrationError, match="sparse model"):  # searching with it is refused too
        QdrantIngestor(tiny_encoder, "c", client=client, sparse_model=other).search(make_text(1), mode="sparse")
    rewritten = QdrantIngestor(tiny_encoder, "c", client=client, sparse_model=other, reencode=True)
    summary = rewritten.ingest(make_docs(2, 6), show_progress=False)
    assert summary.reencoded == 6 and summary.written == 2
    (point,), _ = client.scroll("c", limit=1, with_payload=True, with_vectors=True)
    expected = LearnedSparseEncoder(other).encode_documents([point.payload["page_content"]])[0]
    assert list(point.vector[LEARNED_SPARSE_VECTOR_NAME].indices) == list(expected.indices)
    assert list(point.vector[LEARNED_SPARSE_VECTOR_NAME].values) == pytest.approx(list(expected.values), rel=1e-5)
    assert ModelIdentity.recorded(client.get_collection("c").config.metadata).sparse.fingerprint == other.fingerprint  # type: ignore[union-attr]


def test_search_uses_the_recorded_sparse_model_only_when_it_has_a_name(
    ingested: QdrantIngestor, tiny_encoder: SentenceEncoder, tiny_splade_dir: Path
) -> None:
    reader = QdrantIngestor(tiny_encoder, "docs", client=ingested.client)  # no sparse_model: the collection's
    assert reader.search(make_text(2), k=3, mode="sparse") == ingested.search(make_text(2), k=3, mode="sparse")
    assert reader.learned_sparse is not None and reader.learned_sparse.name == str(tiny_splade_dir)

    in_code = SparseEncoder(modules=list(SparseEncoder(tiny_splade_dir, device="cpu")), device="cpu")
    client = QdrantClient(location=":memory:")
    QdrantIngestor(tiny_encoder, "c", client=client, sparse_model=in_code).ingest(make_docs(3), show_progress=False)
    assert ModelIdentity.recorded(client.get_collection("c").config.metadata).sparse.name == "<modules>"  # type: ignore[union-attr]
    with pytest.raises(IntegrationError, match="pass sparse_model="):  # never a model the user did not name
        QdrantIngestor(tiny_encoder, "c", client=client).search(make_text(1), mode="sparse")
    dense_only = QdrantIngestor(tiny_encoder, "d", client=client)
    dense_only.ingest(make_docs(3), show_progress=False)
    with pytest.raises(ConfigError, match="learned sparse vectors"):
        dense_only.search(make_text(1), mode="sparse", sparse="learned")
    with pytest.raises(IntegrationError, match="without learned sparse vectors"):
        QdrantIngestor(tiny_encoder, "d", client=client, sparse_model=in_code).ingest(make_docs(1), show_progress=False)


def test_cli_ingest_and_search_with_a_sparse_model(
    tiny_model_dir: Path, tiny_splade_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": d["id"], "text": d["text"]}) for d in make_docs(12)) + "\n")
    common = ["--model", str(tiny_model_dir), "--device", "cpu", "--qdrant", str(tmp_path / "q"), "--collection", "s"]
    assert main(["ingest", str(corpus), *common, "--sparse-model", str(tiny_splade_dir), "--quiet"]) == 0
    assert "12 written" in capsys.readouterr().out
    for extra in (["--mode", "sparse"], ["--mode", "fusion", "--sparse-weight", "0.4"], []):
        # No --sparse-model: the one the collection records (the path given to ingest) is loaded.
        assert main(["search", make_text(5), *common, "-k", "3", "--json", *extra]) == 0
        hits = json.loads(capsys.readouterr().out)
        assert len(hits) == 3 and "doc-5" in [h["id"] for h in hits], extra
    chroma = ["--model", str(tiny_model_dir), "--chroma", str(tmp_path / "c"), "--collection", "s"]
    assert main(["ingest", str(corpus), *chroma, "--sparse-model", str(tiny_splade_dir)]) == 2
    assert "--sparse-model (learned sparse vectors) is available with --qdrant only" in capsys.readouterr().err


def test_cli_ingest_loads_the_sparse_model_in_the_dense_models_precision(
    tiny_model_dir: Path, tiny_splade_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sbert_plugins.sparse

    loaded: list[SparseEncoder] = []

    class Recording(SparseEncoder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            loaded.append(self)

    monkeypatch.setattr(sbert_plugins.sparse, "SparseEncoder", Recording)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": d["id"], "text": d["text"]}) for d in make_docs(3)) + "\n")
    argv = ["ingest", str(corpus), "--model", str(tiny_model_dir), "--device", "cpu", "--precision", "bf16"]
    argv += ["--qdrant", str(tmp_path / "q"), "--collection", "s", "--sparse-model", str(tiny_splade_dir), "--quiet"]
    assert main(argv) == 0
    assert [model.precision for model in loaded] == ["bf16"]


def test_inference_free_splade_searches_with_its_static_query_side(
    tiny_encoder: SentenceEncoder, tiny_model_dir: Path
) -> None:
    torch.manual_seed(1)
    model = SparseEncoder.from_transformer(tiny_model_dir, inference_free=True, device="cpu")
    assert model.is_inference_free
    docs = make_docs(12)
    ingestor = QdrantIngestor(tiny_encoder, "free", path=":memory:", sparse_model=model)
    ingestor.ingest(docs, show_progress=False)
    # "young" is the tiny vocabulary's last id, past len(tokenizer.get_vocab()) (which lists "a" twice).
    query = make_text(2) + " young"
    query_vector = sparse_rows(model.encode_queries([query]))[0]
    assert query_vector != sparse_rows(model.encode_documents([query]))[0]  # the two routes differ
    expected = {
        d["id"]: dot(query_vector, v)
        for d, v in zip(docs, sparse_rows(model.encode_documents([d["text"] for d in docs])), strict=True)
    }
    hits = ingestor.search(query, k=4, mode="sparse")
    assert all(h.score == pytest.approx(expected[h.id], rel=1e-4) for h in hits)
    assert [h.score for h in hits] == pytest.approx(sorted(expected.values(), reverse=True)[:4], rel=1e-4)
    ingestor.close()
