"""Router: query and document routes, the default route, route mappings, the reference's layout both ways."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize as ReferenceNormalize
from sentence_transformers.base.modules import Router as ReferenceRouter
from sentence_transformers.sentence_transformer.modules import StaticEmbedding as ReferenceStatic
from transformers import PreTrainedTokenizerFast

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules import Normalize, Router, StaticEmbedding
from tests.sbert_plugins.modules.parity import TEXTS, assert_same_both_ways


def _reference_router(tiny_model_dir: Path, **kwargs: object) -> SentenceTransformer:
    torch.manual_seed(0)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tiny_model_dir))
    document = SentenceTransformer(str(tiny_model_dir), device="cpu")
    query = [ReferenceStatic(tokenizer, embedding_dim=32)]
    router = ReferenceRouter({"query": query, "document": list(document.children())}, **kwargs)  # type: ignore[arg-type]
    return SentenceTransformer(modules=[router, ReferenceNormalize()], device="cpu")


def test_asymmetric_router_matches_the_reference_per_task(tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = _reference_router(tiny_model_dir, default_route="document")
    ours = assert_same_both_ways(reference, tmp_path, tasks=(None, "query", "document"))
    queries, documents = ours.encode_queries(TEXTS), ours.encode_documents(TEXTS)
    assert not np.allclose(queries, documents)  # two different branches
    np.testing.assert_allclose(ours.encode(TEXTS), documents, atol=1e-6)  # plain encode: the default route
    np.testing.assert_allclose(queries, reference.encode_query(TEXTS), atol=1e-5)


def test_default_route_is_the_first_route_when_unset(tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = _reference_router(tiny_model_dir)  # no default: the reference takes the first key, "query"
    ours = assert_same_both_ways(reference, tmp_path, tasks=(None,))
    np.testing.assert_allclose(ours.encode(TEXTS), ours.encode_queries(TEXTS), atol=1e-6)


def test_route_mappings_round_trip(tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = _reference_router(
        tiny_model_dir, default_route="document", route_mappings={("search", None): "query", (None, "text"): "document"}
    )
    ours = assert_same_both_ways(reference, tmp_path, tasks=(None, "search", "query"))
    router = ours[0]
    assert isinstance(router, Router)
    assert router.route_for("search") == "query" and router.route_for(None) == "document"
    assert router.route_for("query") == "document"  # (None, "text") comes before a route named like the task


def test_unknown_task_and_missing_default_are_errors(tiny_encoder: SentenceEncoder) -> None:
    static = StaticEmbedding(tiny_encoder.tokenizer.backend_tokenizer, embedding_dim=32)
    model = SentenceEncoder(modules=[Router({"query": [static]}, allow_empty_key=False), Normalize()], device="cpu")
    with pytest.raises(ConfigError, match=r"no route for task 'passage'; routes: \['query'\]"):
        model.encode(["x"], task="passage")
    with pytest.raises(ConfigError, match="no default route"):
        model.encode(["x"])
    with pytest.raises(ConfigError, match=r"routes \['nowhere'\] that do not exist"):
        Router({"query": [static]}, default_route="nowhere")


def test_router_folder_outside_the_model_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = _reference_router(tiny_model_dir, default_route="document")
    reference.save(str(tmp_path / "model"))
    config_path = tmp_path / "model" / "router_config.json"
    config = json.loads(config_path.read_text())
    config["types"] = {"../escape": next(iter(config["types"].values()))}
    config["structure"] = {"query": ["../escape"]}
    config_path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="lies outside"):
        SentenceEncoder(tmp_path / "model", device="cpu")


def test_legacy_asym_folder_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = _reference_router(tiny_model_dir, default_route="document")
    reference.save(str(tmp_path / "model"))
    (tmp_path / "model" / "router_config.json").rename(tmp_path / "model" / "config.json")
    modules = json.loads((tmp_path / "model" / "modules.json").read_text())
    modules[0]["type"] = "sentence_transformers.models.Asym"
    (tmp_path / "model" / "modules.json").write_text(json.dumps(modules))
    ours = SentenceEncoder(tmp_path / "model", device="cpu")
    np.testing.assert_allclose(ours.encode_queries(TEXTS), reference.encode_query(TEXTS), atol=1e-5)
    np.testing.assert_allclose(ours.encode_documents(TEXTS), reference.encode_document(TEXTS), atol=1e-5)
