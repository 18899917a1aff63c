"""The Haystack components on their own: outputs, prompts, copies, input errors, run_async, warm_up."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from integrations.haystack import (
    SBERTDocumentEmbedder,
    SBERTRanker,
    SBERTSparseDocumentEmbedder,
    SBERTSparseTextEmbedder,
    SBERTTextEmbedder,
)
from integrations.scoring import BiEncoderScorer
from sbert_plugins import SentenceEncoder
from sbert_plugins.bm25 import BM25Config, BM25Encoder
from sbert_plugins.cross_encoder import CrossEncoder, fuse_scores
from sbert_plugins.cross_encoder.fusion_record import FusionRecord, write_fusion_record
from sbert_plugins.errors import ConfigError
from tests.integrations.haystack.conftest import PROMPTS, make_documents

# ---- dense embedders ---------------------------------------------------------------------------


def test_text_embedder_uses_the_saved_query_prompt(prompted_model_dir: Path) -> None:
    encoder = SentenceEncoder(prompted_model_dir, device="cpu")
    embedder = SBERTTextEmbedder(model=str(prompted_model_dir))
    embedding = embedder.run("a man plays guitar")["embedding"]
    assert isinstance(embedding, list) and all(isinstance(x, float) for x in embedding)
    expected = encoder.encode(PROMPTS["query"] + "a man plays guitar")
    np.testing.assert_allclose(embedding, expected, atol=1e-6)
    assert not np.allclose(embedding, encoder.encode("a man plays guitar"), atol=1e-4)
    explicit = SBERTTextEmbedder(model=str(prompted_model_dir), prompt="").run("a man plays guitar")["embedding"]
    np.testing.assert_allclose(explicit, encoder.encode("a man plays guitar"), atol=1e-6)


def test_document_embedder_sets_embeddings_on_copies(prompted_model_dir: Path) -> None:
    encoder = SentenceEncoder(prompted_model_dir, device="cpu")
    documents = make_documents(7)
    embedder = SBERTDocumentEmbedder(
        model=str(prompted_model_dir), meta_fields_to_embed=["title", "missing"], embedding_separator=" | "
    )
    result = embedder.run(documents)["documents"]
    assert [d.id for d in result] == [d.id for d in documents]
    assert all(d.embedding is None for d in documents)  # the caller's documents are unchanged
    texts = [f"{PROMPTS['document']}{d.meta['title']} | {d.content}" for d in documents]
    np.testing.assert_allclose([d.embedding for d in result], encoder.encode(texts), atol=1e-6)
    assert [d.meta for d in result] == [d.meta for d in documents]


def test_document_embedder_batch_size_only_caps_batches(tiny_model_dir: Path) -> None:
    documents = make_documents(9)
    free = SBERTDocumentEmbedder(model=str(tiny_model_dir)).run(documents)["documents"]
    capped = SBERTDocumentEmbedder(model=str(tiny_model_dir), batch_size=2).run(documents)["documents"]
    np.testing.assert_allclose([d.embedding for d in free], [d.embedding for d in capped], atol=1e-5)


def test_dense_options_normalize_and_truncate(tiny_model_dir: Path) -> None:
    embedder = SBERTTextEmbedder(model=str(tiny_model_dir), normalize_embeddings=True, truncate_dim=8)
    embedding = np.asarray(embedder.run("a dog runs")["embedding"])
    assert embedding.shape == (8,)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)


def test_empty_document_list_gives_empty_output_without_loading(tiny_model_dir: Path) -> None:
    embedder = SBERTDocumentEmbedder(model=str(tiny_model_dir))
    assert embedder.run([]) == {"documents": []}
    assert not embedder._encoder.loaded


@pytest.mark.parametrize("component", [SBERTDocumentEmbedder, SBERTSparseDocumentEmbedder])
def test_document_embedders_reject_wrong_inputs(component: type, tiny_model_dir: Path) -> None:
    embedder = component(model=str(tiny_model_dir)) if component is SBERTDocumentEmbedder else component()
    with pytest.raises(TypeError, match="found str.*text embedder"):
        embedder.run("a single string")
    with pytest.raises(TypeError, match=r"documents\[1\] is str"):
        embedder.run([Document(content="a"), "b"])
    with pytest.raises(ValueError, match=r"documents\[0\] \(id 'no-text'\) has no text content"):
        embedder.run([Document(id="no-text", meta={"x": 1})])


@pytest.mark.parametrize("component", [SBERTTextEmbedder, SBERTSparseTextEmbedder])
def test_text_embedders_reject_non_strings(component: type, tiny_model_dir: Path) -> None:
    embedder = component(model=str(tiny_model_dir)) if component is SBERTTextEmbedder else component()
    with pytest.raises(TypeError, match="found list.*document embedder"):
        embedder.run(["a", "b"])
    with pytest.raises(TypeError, match="found Document"):
        embedder.run(Document(content="a"))


def test_invalid_settings_are_config_errors(tiny_model_dir: Path) -> None:
    for bad in (
        {"precision": "fp8"},
        {"batch_size": 0},
        {"truncate_dim": -1},
        {"model": ""},
        {"device": "cpu"},
        {"token": "hf_secret"},
        {"meta_fields_to_embed": "title"},
        {"embedding_separator": 1},
        {"prompt": 3},
    ):
        with pytest.raises(ConfigError):
            SBERTDocumentEmbedder(**{"model": str(tiny_model_dir), **bad})
    with pytest.raises(ConfigError, match="k2"):
        SBERTSparseTextEmbedder(bm25={"k2": 1.0})
    for bad in ({"top_k": 0}, {"fusion_weight": 1.5}, {"model_type": "colbert"}, {"precision": "int8"}):
        with pytest.raises(ConfigError):
            SBERTRanker(**{"model": str(tiny_model_dir), **bad})


def test_warm_up_loads_once_across_threads(tiny_model_dir: Path) -> None:
    embedder = SBERTTextEmbedder(model=str(tiny_model_dir))
    loads = []
    original = embedder._encoder._load

    def counting_load() -> SentenceEncoder:
        loads.append(1)
        return original()

    embedder._encoder._load = counting_load
    threads = [threading.Thread(target=embedder.warm_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    embedder.warm_up()
    assert len(loads) == 1
    assert embedder.encoder is embedder.encoder


def test_run_async_gives_the_same_outputs(tiny_model_dir: Path, tiny_reranker_dir: Path) -> None:
    documents = make_documents(5)
    cases = [
        (SBERTTextEmbedder(model=str(tiny_model_dir)), {"text": "a cat sleeps"}),
        (SBERTDocumentEmbedder(model=str(tiny_model_dir)), {"documents": documents}),
        (SBERTSparseTextEmbedder(), {"text": "two cats sleep"}),
        (SBERTSparseDocumentEmbedder(), {"documents": documents}),
        (SBERTRanker(model=str(tiny_reranker_dir), top_k=3), {"query": "a cat", "documents": documents}),
    ]

    async def run_all() -> list[dict]:
        return await asyncio.gather(*(component.run_async(**inputs) for component, inputs in cases))

    for (component, inputs), async_output in zip(cases, asyncio.run(run_all()), strict=True):
        assert async_output == component.run(**inputs), type(component).__name__


# ---- sparse embedders --------------------------------------------------------------------------


def test_sparse_embedders_give_the_ingestors_bm25_vectors() -> None:
    config = {"k1": 1.5, "b": 0.5, "avg_doc_length": 10.0, "stopwords": True, "stem": False}
    bm25 = BM25Encoder(BM25Config(**config))
    documents = make_documents(4)
    result = SBERTSparseDocumentEmbedder(bm25=config, meta_fields_to_embed=["title"], embedding_separator=" ").run(
        documents
    )["documents"]
    for original, embedded in zip(documents, result, strict=True):
        expected = bm25.encode_document(f"{original.meta['title']} {original.content}")
        assert embedded.sparse_embedding.indices == list(expected.indices)
        assert embedded.sparse_embedding.values == pytest.approx(expected.values)
        assert original.sparse_embedding is None
    query = SBERTSparseTextEmbedder(bm25=config).run("cats playing cats")["sparse_embedding"]
    assert query.indices == list(bm25.encode_query("cats playing cats").indices)
    assert query.values == [1.0] * len(query.indices)


# ---- ranker ------------------------------------------------------------------------------------


def test_ranker_orders_copies_by_cross_encoder_score(tiny_reranker_dir: Path) -> None:
    documents = make_documents(6)
    ranker = SBERTRanker(model=str(tiny_reranker_dir), top_k=4)
    ranked = ranker.run(query="a man plays guitar", documents=documents)["documents"]
    expected = CrossEncoder(tiny_reranker_dir, device="cpu").predict(
        [("a man plays guitar", d.content) for d in documents]
    )
    order = np.argsort(-expected, kind="stable")[:4]
    assert [d.id for d in ranked] == [documents[i].id for i in order]
    assert [d.score for d in ranked] == pytest.approx(expected[order].tolist(), abs=1e-6)
    assert all(d.score is None for d in documents)
    assert len(ranker.run(query="a man", documents=documents, top_k=2)["documents"]) == 2
    cut = ranked[1].score
    assert all(
        d.score >= cut
        for d in ranker.run(query="a man plays guitar", documents=documents, score_threshold=cut)["documents"]
    )


def test_bi_encoder_ranker_scores_with_prompts(prompted_model_dir: Path) -> None:
    documents = make_documents(5)
    ranked = SBERTRanker(model=str(prompted_model_dir), model_type="bi_encoder", top_k=5).run(
        query="a dog", documents=documents
    )["documents"]
    encoder = SentenceEncoder(prompted_model_dir, device="cpu")
    expected = BiEncoderScorer(encoder).predict([("a dog", d.content) for d in documents])
    by_id = {d.id: score for d, score in zip(documents, expected, strict=True)}
    assert [d.score for d in ranked] == pytest.approx([by_id[d.id] for d in ranked], abs=1e-5)
    assert [d.score for d in ranked] == sorted((d.score for d in ranked), reverse=True)


def test_ranker_fuses_logits_with_the_first_stage_similarity(tiny_reranker_dir: Path, prompted_model_dir: Path) -> None:
    documents = make_documents(6)
    ranker = SBERTRanker(
        model=str(tiny_reranker_dir), top_k=6, fusion_weight=0.3, first_stage_model=str(prompted_model_dir)
    )
    ranked = ranker.run(query="a woman sings", documents=documents)["documents"]
    pairs = [("a woman sings", d.content) for d in documents]
    logits = CrossEncoder(tiny_reranker_dir, device="cpu").predict(pairs, activation="identity")
    similarity = BiEncoderScorer(SentenceEncoder(prompted_model_dir, device="cpu")).predict(pairs)
    fused = fuse_scores(similarity, logits, 0.3)
    by_id = {d.id: float(s) for d, s in zip(documents, fused, strict=True)}
    assert [d.score for d in ranked] == pytest.approx([by_id[d.id] for d in ranked], abs=1e-5)
    assert [d.score for d in ranked] == pytest.approx(sorted(by_id.values(), reverse=True), abs=1e-5)
    with pytest.raises(ConfigError, match="first_stage_model"):
        SBERTRanker(model=str(tiny_reranker_dir), fusion_weight=0.3)
    with pytest.raises(ConfigError, match="fusion_weight too"):
        SBERTRanker(model=str(tiny_reranker_dir), first_stage_model=str(prompted_model_dir))


def test_ranker_rejects_wrong_inputs(tiny_reranker_dir: Path) -> None:
    ranker = SBERTRanker(model=str(tiny_reranker_dir))
    with pytest.raises(TypeError, match="expects text: str"):
        ranker.run(query=["a"], documents=[])
    with pytest.raises(TypeError, match="expects documents"):
        ranker.run(query="a", documents="a dog")
    with pytest.raises(ConfigError, match="top_k"):
        ranker.run(query="a", documents=[Document(content="b")], top_k=0)
    assert ranker.run(query="a", documents=[]) == {"documents": []}


def test_concurrent_runs_from_threads_match_sequential_ones(tiny_model_dir: Path, tiny_reranker_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    documents = make_documents(6)
    embedder = SBERTDocumentEmbedder(model=str(tiny_model_dir))
    ranker = SBERTRanker(model=str(tiny_reranker_dir), top_k=6)
    expected_vectors = [d.embedding for d in embedder.run(documents)["documents"]]
    expected_ranking = ranker.run(query="a dog", documents=documents)
    with ThreadPoolExecutor(4) as pool:
        embedded = list(pool.map(lambda _: embedder.run(documents)["documents"], range(4)))
        ranked = list(pool.map(lambda _: ranker.run(query="a dog", documents=documents), range(4)))
    for result in embedded:
        np.testing.assert_allclose([d.embedding for d in result], expected_vectors, atol=1e-6)
    assert all(result == expected_ranking for result in ranked)


def test_ranker_takes_the_recorded_weight_and_refuses_another_first_stage(
    tiny_reranker_dir: Path, prompted_model_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "reranker"
    shutil.copytree(tiny_reranker_dir, folder)
    first_stage = SentenceEncoder(prompted_model_dir, device="cpu")
    cross = CrossEncoder(folder, device="cpu")
    write_fusion_record(folder, FusionRecord(0.6, first_stage.fingerprint, "prompted", 20, cross.fingerprint))
    documents = make_documents(6)
    recorded = SBERTRanker(
        model=str(folder), top_k=6, fusion_weight="recorded", first_stage_model=str(prompted_model_dir)
    )
    explicit = SBERTRanker(model=str(folder), top_k=6, fusion_weight=0.6, first_stage_model=str(prompted_model_dir))
    scores = [d.score for d in recorded.run(query="a dog", documents=documents)["documents"]]
    assert scores == pytest.approx([d.score for d in explicit.run(query="a dog", documents=documents)["documents"]])
    other = SBERTRanker(model=str(folder), fusion_weight="recorded", first_stage_model=str(tiny_model_dir))
    with pytest.raises(ConfigError, match="was tuned with the bi-encoder prompted"):
        other.warm_up()
    with pytest.raises(ConfigError, match="holds no fusion record"):
        SBERTRanker(model=str(tiny_reranker_dir), fusion_weight="recorded", first_stage_model=str(tiny_model_dir)).run(
            query="a dog", documents=documents
        )
