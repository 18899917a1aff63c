"""to_dict / from_dict of every component, and whole pipelines through YAML under Haystack's allowlist."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from haystack import Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.core.errors import DeserializationError
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import ComponentDevice, Secret

from integrations.haystack import (
    ALLOWED_MODULES,
    SBERTDocumentEmbedder,
    SBERTRanker,
    SBERTSparseDocumentEmbedder,
    SBERTSparseTextEmbedder,
    SBERTTextEmbedder,
)
from sbert_plugins import SentenceEncoder
from tests.integrations.haystack.conftest import make_documents

DEVICE = ComponentDevice.from_str("cpu")
TOKEN = Secret.from_env_var("MY_HF_TOKEN", strict=False)
BM25 = {"k1": 1.1, "b": 0.6, "avg_doc_length": 40.0, "stopwords": False, "stem": True}


def non_default_components(model: str, reranker: str) -> list[Any]:
    """Every component with every init parameter set to something other than its default."""
    dense = {
        "model": model,
        "device": DEVICE,
        "token": TOKEN,
        "precision": "bf16",
        "batch_size": 7,
        "normalize_embeddings": True,
        "truncate_dim": 16,
        "prompt": "q: ",
        "revision": "main",
        "local_files_only": True,
        "trust_remote_code": True,
    }
    return [
        SBERTTextEmbedder(**dense, progress_bar=True),
        SBERTDocumentEmbedder(**dense, progress_bar=False, meta_fields_to_embed=["title"], embedding_separator=" "),
        SBERTSparseTextEmbedder(bm25=BM25),
        SBERTSparseDocumentEmbedder(bm25=BM25, meta_fields_to_embed=["title"], embedding_separator=" "),
        SBERTSparseTextEmbedder(model=model, device=DEVICE),
        SBERTSparseDocumentEmbedder(
            model=model, device=DEVICE, meta_fields_to_embed=["title"], embedding_separator=" "
        ),
        SBERTRanker(
            model=reranker,
            top_k=3,
            score_threshold=0.25,
            fusion_weight=0.4,
            first_stage_model=model,
            meta_fields_to_embed=["title"],
            embedding_separator=" ",
            batch_size=8,
            device=DEVICE,
            token=TOKEN,
            precision="bf16",
            revision="v1",
            local_files_only=True,
            trust_remote_code=True,
        ),
    ]


def test_every_component_round_trips_every_init_parameter(tmp_path: Path) -> None:
    for component in non_default_components(str(tmp_path / "m"), str(tmp_path / "r")):
        data = component.to_dict()
        names = set(inspect.signature(type(component).__init__).parameters) - {"self"}
        assert set(data["init_parameters"]) == names, type(component).__name__
        rebuilt = type(component).from_dict(data)
        assert rebuilt.to_dict() == data
        # A sparse embedder takes BM25 settings or a learned model (and its device): each variant sets its own.
        unset = set()
        if isinstance(component, (SBERTSparseTextEmbedder, SBERTSparseDocumentEmbedder)):
            unset = {"model", "device"} if component.model is None else {"bm25"}
        for name in names:
            default = inspect.signature(type(component).__init__).parameters[name].default
            assert getattr(rebuilt, name) == getattr(component, name)
            if (
                name != "model_type" and name not in unset
            ):  # fusion needs the default, a cross-encoder; bi_encoder is set below
                assert getattr(rebuilt, name) != default, f"{type(component).__name__}.{name} kept its default"
    bi_encoder = SBERTRanker(model="r", model_type="bi_encoder")
    assert SBERTRanker.from_dict(bi_encoder.to_dict()).model_type == "bi_encoder"
    assert non_default_components("m", "r")[0].to_dict()["init_parameters"]["device"] == DEVICE.to_dict()
    assert non_default_components("m", "r")[0].to_dict()["init_parameters"]["token"] == TOKEN.to_dict()


def test_a_token_given_as_a_value_is_not_written_out(tiny_model_dir: Path) -> None:
    embedder = SBERTTextEmbedder(model=str(tiny_model_dir), token=Secret.from_token("hf_secret"))
    with pytest.raises(ValueError, match="token"):
        embedder.to_dict()


def all_components_pipeline(model: str, reranker: str) -> Pipeline:
    pipeline = Pipeline()
    for index, component in enumerate(non_default_components(model, reranker)):
        pipeline.add_component(f"c{index}", component)
    return pipeline


def test_pipeline_yaml_round_trip_needs_only_the_documented_allowlist(tmp_path: Path) -> None:
    assert ALLOWED_MODULES == ["integrations.haystack"]
    text = all_components_pipeline(str(tmp_path / "m"), str(tmp_path / "r")).dumps()
    with pytest.raises(DeserializationError, match="integrations.haystack"):
        Pipeline.loads(text)
    loaded = Pipeline.loads(text, allowed_modules=ALLOWED_MODULES)
    assert loaded.dumps() == text


def test_environment_allowlist_works_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = all_components_pipeline(str(tmp_path / "m"), str(tmp_path / "r")).dumps()
    monkeypatch.setenv("HAYSTACK_DESERIALIZATION_ALLOWLIST", "integrations.haystack")
    assert Pipeline.loads(text).dumps() == text


def test_in_memory_pipelines_from_yaml_end_to_end(tiny_model_dir: Path, tiny_reranker_dir: Path) -> None:
    index = f"sbert-{id(tiny_model_dir)}"
    indexing = Pipeline()
    indexing.add_component("embedder", SBERTDocumentEmbedder(model=str(tiny_model_dir), progress_bar=False))
    indexing.add_component(
        "writer",
        DocumentWriter(document_store=InMemoryDocumentStore(index=index, embedding_similarity_function="cosine")),
    )
    indexing.connect("embedder.documents", "writer.documents")
    querying = Pipeline()
    querying.add_component("embedder", SBERTTextEmbedder(model=str(tiny_model_dir)))
    querying.add_component(
        "retriever",
        InMemoryEmbeddingRetriever(
            document_store=InMemoryDocumentStore(index=index, embedding_similarity_function="cosine"), top_k=5
        ),
    )
    querying.add_component("ranker", SBERTRanker(model=str(tiny_reranker_dir), top_k=3))
    querying.connect("embedder.embedding", "retriever.query_embedding")
    querying.connect("retriever.documents", "ranker.documents")

    documents = make_documents(20)
    indexing_again = Pipeline.loads(indexing.dumps(), allowed_modules=ALLOWED_MODULES)
    assert indexing_again.run({"embedder": {"documents": documents}})["writer"]["documents_written"] == 20
    querying_again = Pipeline.loads(querying.dumps(), allowed_modules=ALLOWED_MODULES)
    query = documents[4].content
    result = querying_again.run(
        {"embedder": {"text": query}, "ranker": {"query": query}}, include_outputs_from={"retriever"}
    )
    retrieved = result["retriever"]["documents"]
    assert retrieved[0].id == "doc-4" and retrieved[0].score == pytest.approx(1.0, abs=1e-4)
    encoder = SentenceEncoder(tiny_model_dir, device="cpu")
    query_vector = encoder.encode_queries(query)
    for document in retrieved:
        expected = encoder.similarity(query_vector[None], encoder.encode_documents([document.content]))
        assert document.score == pytest.approx(float(np.asarray(expected).ravel()[0]), abs=1e-4)
    ranked = result["ranker"]["documents"]
    assert len(ranked) == 3 and {d.id for d in ranked} <= {d.id for d in retrieved}
    assert [d.score for d in ranked] == sorted((d.score for d in ranked), reverse=True)
