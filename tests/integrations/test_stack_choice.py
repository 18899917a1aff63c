"""The stack finetune chooses, end to end on the tiny model: recorded in stack.json, run by default by
``sbert-plugins search``, the LangChain ``stack_retriever`` and the Haystack ``stack_query_pipeline`` (the same
top 10 as the explicit search), and refused by all three once a model's fingerprint no longer matches."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from sbert_plugins.errors import ConfigError
from sbert_plugins.stack_record import STACK_FILE, StackRecord, read_stack_record, write_stack_record
from tests.trainers.finetune.conftest import PASSAGES, QUESTIONS, write_jsonl
from trainers.finetune import FinetuneConfig, finetune

pytest.importorskip("qdrant_client")
QUESTION = "who plays guitar in the park"
# Haystack's hybrid retriever fetches Qdrant's default 10 per side: a collection of 10 passages gives every
# consumer the same candidates to re-rank.
INDEXED = dict(list(PASSAGES.items())[:10])


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One finetune run with a re-ranker (the stack choice included), and a hybrid collection of its model."""
    root = tmp_path_factory.mktemp("stack")
    corpus = write_jsonl(root / "corpus.jsonl", [{"_id": k, "text": v} for k, v in PASSAGES.items()])
    pairs = write_jsonl(
        root / "pairs.jsonl", [{"query": q, "positive_id": d} for d, questions in QUESTIONS.items() for q in questions]
    )
    config = FinetuneConfig(
        base=str(tiny_model_dir),
        output=str(root / "model"),
        reranker_output=str(root / "reranker"),
        batch_size=4,
        learning_rate=1e-3,
        skip_top=1,
        dev_size=6,
        reranker_min_steps=3,
        reranker_max_length=64,
        rerank_top_k=8,
        show_progress=False,
    )
    report = finetune(pairs, config, corpus=corpus)
    model = root / "model"
    with QdrantIngestor(str(model), "docs", path=root / "qdrant", hybrid=True) as ingestor:
        ingestor.ingest([{"id": k, "text": v} for k, v in INDEXED.items()], show_progress=False)
    return {"report": report, "model": model, "reranker": root / "reranker", "qdrant": root / "qdrant"}


def _search(capsys: pytest.CaptureFixture[str], trained: dict[str, Any], *extra: str) -> tuple[int, Any, str]:
    argv = ["search", QUESTION, "--model", str(trained["model"]), "--qdrant", str(trained["qdrant"])]
    code = main([*argv, "--collection", "docs", "-k", "10", "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


def _langchain_texts(trained: dict[str, Any], collection: str, k: int) -> list[str]:
    from qdrant_client import QdrantClient

    from integrations.langchain import stack_retriever

    client = QdrantClient(path=str(trained["qdrant"]))
    try:
        docs = stack_retriever(trained["model"], client=client, collection_name=collection, k=k).invoke(QUESTION)
    finally:
        client.close()
    return [d.page_content for d in docs]


def _with_stack(trained: dict[str, Any], **changes: Any) -> StackRecord:
    record = read_stack_record(trained["model"])
    assert record is not None
    changed = replace(record, **changes)
    write_stack_record(trained["model"], changed)
    return changed


def test_finetune_reports_every_stack_and_records_the_best(trained: dict[str, Any]) -> None:
    report, model = trained["report"], trained["model"]
    names = {"dense", "bm25", "dense+bm25"}
    assert set(report["stacks"]) == names | {f"{n}+reranker" for n in names}
    validation = {name: result["validation"]["ndcg@10"] for name, result in report["stacks"].items()}
    assert validation[report["stack"]] == max(validation.values())
    assert all({"ndcg@10", "mrr@10", "recall@100"} <= set(r["dev"]) for r in report["stacks"].values())
    record = read_stack_record(model)
    assert record is not None and record.name == report["stack"]
    assert record.validation_ndcg == pytest.approx(validation)
    assert record.dense_fingerprint == SentenceEncoder(str(model)).fingerprint
    manifest = json.loads((model / ".finetune" / "manifest.json").read_text())
    assert STACK_FILE in manifest["files"]  # written through the run's manifest: --overwrite may replace it
    assert "Retrieval stacks, chosen by validation nDCG@10" in (model / "README.md").read_text()


def test_search_langchain_and_haystack_run_the_recorded_stack(
    trained: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from sbert_plugins.cross_encoder import CrossEncoder

    record = _with_stack(
        trained,
        first_stage="dense+bm25",
        reranker="../reranker",
        reranker_fingerprint=CrossEncoder(str(trained["reranker"])).fingerprint,
        fusion_weight=0.4,
        candidates=len(INDEXED),  # every passage: each consumer re-ranks the same candidates
        bm25={},
    )
    code, hits, err = _search(capsys, trained)
    assert code == 0 and "stack dense+bm25+reranker" not in err  # --json: nothing but the hits
    explicit = ["--mode", "hybrid", "--rerank", str(trained["reranker"]), "--fusion-weight", "0.4"]
    _, same, _ = _search(capsys, trained, *explicit, "--fetch-k", str(max(record.candidates, 10)))
    assert [h["id"] for h in hits] == [h["id"] for h in same]
    assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in same])
    _, dense, _ = _search(capsys, trained, "--no-stack")
    assert [h["score"] for h in dense] != pytest.approx([h["score"] for h in hits])
    expected = [h["id"] for h in hits]

    assert _langchain_texts(trained, "docs", 10) == [PASSAGES[d] for d in expected]

    from haystack import Document
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    from integrations.haystack import (
        SBERTDocumentEmbedder,
        SBERTSparseDocumentEmbedder,
        stack_query_inputs,
        stack_query_pipeline,
    )

    store = QdrantDocumentStore(
        location=":memory:", embedding_dim=32, use_sparse_embeddings=True, sparse_idf=True, progress_bar=False
    )
    documents = [Document(id=k, content=v) for k, v in INDEXED.items()]
    documents = SBERTDocumentEmbedder(model=str(trained["model"]), progress_bar=False).run(documents)["documents"]
    store.write_documents(SBERTSparseDocumentEmbedder().run(documents)["documents"])
    pipeline = stack_query_pipeline(trained["model"], store, top_k=10)
    assert stack_query_inputs(pipeline, QUESTION) == {"text": QUESTION, "query": QUESTION}
    answer = pipeline.run(stack_query_inputs(pipeline, QUESTION))
    assert [d.id for d in answer["ranker"]["documents"]] == expected
    assert [d.score for d in answer["ranker"]["documents"]] == pytest.approx([h["score"] for h in hits], abs=1e-5)


def test_a_bm25_stack_searches_the_sparse_vectors(trained: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _with_stack(trained, first_stage="bm25", reranker=None, reranker_fingerprint=None, fusion_weight=None, bm25={})
    code, hits, _ = _search(capsys, trained)
    _, sparse, _ = _search(capsys, trained, "--mode", "sparse")
    assert code == 0 and hits == sparse

    assert _langchain_texts(trained, "docs", 10) == [h["text"] for h in sparse]


def test_a_stack_whose_models_changed_is_refused(trained: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    record = _with_stack(trained, first_stage="dense", dense_fingerprint="0" * 16)
    code, _, err = _search(capsys, trained)
    assert code == 2 and "had fingerprint 0000000000000000 when the stack was chosen" in err and "--no-stack" in err
    code, hits, _ = _search(capsys, trained, "--no-stack")
    assert code == 0 and len(hits) == len(INDEXED)

    from integrations.haystack import stack_query_pipeline
    from integrations.langchain import stack_retriever

    with pytest.raises(ConfigError, match="when the stack was chosen"):
        stack_retriever(trained["model"], client=None, collection_name="docs")
    with pytest.raises(ConfigError, match="when the stack was chosen"):
        stack_query_pipeline(trained["model"], None)

    from sbert_plugins.cross_encoder import CrossEncoder

    fingerprint = SentenceEncoder(str(trained["model"])).fingerprint
    (trained["model"] / STACK_FILE).write_text(
        json.dumps(
            asdict(replace(record, dense_fingerprint=fingerprint, first_stage="dense+bm25", bm25={}))
            | {"reranker": "../reranker", "reranker_fingerprint": "1" * 16, "fusion_weight": 0.5}
        )
    )
    assert CrossEncoder(str(trained["reranker"])).fingerprint != "1" * 16
    code, _, err = _search(capsys, trained)
    assert code == 2 and "re-ranker ../reranker had fingerprint 1111111111111111" in err


def test_a_learned_sparse_stack_searches_the_learned_vectors(
    trained: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sbert_plugins.sparse import SparseEncoder
    from tests.sbert_plugins.sparse.conftest import build_hf_folder

    sparse = SparseEncoder.from_transformer(build_hf_folder(tmp_path / "mlm", mlm_head=True), inference_free=True)
    sparse.save(trained["model"] / "sparse")
    with QdrantIngestor(
        str(trained["model"]), "learned", path=trained["qdrant"], sparse_model=str(trained["model"] / "sparse")
    ) as ingestor:
        ingestor.ingest([{"id": k, "text": v} for k, v in INDEXED.items()], show_progress=False)
    fingerprint = SparseEncoder(str(trained["model"] / "sparse")).fingerprint
    _with_stack(
        trained,
        first_stage="dense+sparse",
        dense_fingerprint=SentenceEncoder(str(trained["model"])).fingerprint,
        sparse_model="sparse",
        sparse_fingerprint=fingerprint,
        reranker=None,
        reranker_fingerprint=None,
        fusion_weight=None,
        bm25=None,
    )
    argv = ["search", QUESTION, "--model", str(trained["model"]), "--qdrant", str(trained["qdrant"])]
    argv += ["--collection", "learned", "-k", "10", "--json"]  # LangChain's hybrid fetches k per side: all 10
    assert main(argv) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert main([*argv, "--mode", "hybrid", "--sparse", "learned"]) == 0
    assert recorded == json.loads(capsys.readouterr().out)

    assert _langchain_texts(trained, "learned", 10) == [h["text"] for h in recorded]

    _with_stack(trained, sparse_fingerprint="2" * 16)
    assert main(argv) == 2
    assert "learned sparse model sparse had fingerprint 2222222222222222" in capsys.readouterr().err
