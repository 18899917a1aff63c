"""Training through a Router: router_mapping sends each text column through its own branch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from torch import nn

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.modules import Normalize, Router, StaticEmbedding
from trainers import Trainer, TrainingConfig, losses
from trainers.finetune.run import query_document_mapping

ROWS = [
    {"query": f"what does the {a} {b}", "answer": f"the {a} {b} in the park"}
    for a in ("man", "woman", "dog", "cat", "child")
    for b in ("plays", "eats", "runs", "sits")
]


def _router_model(tiny_encoder: SentenceEncoder) -> SentenceEncoder:
    torch.manual_seed(0)
    static = StaticEmbedding(tiny_encoder.tokenizer.backend_tokenizer, embedding_dim=32)
    router = Router.for_query_document([static], list(tiny_encoder))
    return SentenceEncoder(modules=[router, Normalize()], device="cpu")


def _branch(model: SentenceEncoder, route: str) -> dict[str, torch.Tensor]:
    router = model[0]
    assert isinstance(router, Router)
    return {k: v.detach().clone() for k, v in router.chain(route).state_dict().items()}


def _changed(before: dict[str, torch.Tensor], model: SentenceEncoder, route: str) -> bool:
    after = _branch(model, route)
    return any(not torch.equal(before[k], after[k]) for k in before)


def _train(model: nn.Module, tmp_path: Path, **settings: object) -> None:
    config = TrainingConfig(
        batch_size=10, learning_rate=1e-2, output_dir=str(tmp_path / "out"), show_progress=False, **settings
    )
    Trainer(model, loss=losses.MultipleNegativesRankingLoss(model), train_data=ROWS, config=config).train()


def test_router_mapping_trains_both_branches_and_the_reference_agrees(
    tiny_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    model = _router_model(tiny_encoder)
    query_before, document_before = _branch(model, "query"), _branch(model, "document")
    _train(model, tmp_path, router_mapping={"query": "query", "answer": "document"})
    assert _changed(query_before, model, "query") and _changed(document_before, model, "document")

    reference = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    texts = [row["query"] for row in ROWS[:5]]
    np.testing.assert_allclose(model.encode_queries(texts), reference.encode_query(texts), atol=1e-5)
    np.testing.assert_allclose(model.encode_documents(texts), reference.encode_document(texts), atol=1e-5)


def test_without_mapping_only_the_default_route_trains(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    model = _router_model(tiny_encoder)
    query_before, document_before = _branch(model, "query"), _branch(model, "document")
    _train(model, tmp_path)
    assert not _changed(query_before, model, "query") and _changed(document_before, model, "document")


def test_bad_router_mappings_are_errors(tiny_encoder: SentenceEncoder, tmp_path: Path) -> None:
    model = _router_model(tiny_encoder)
    with pytest.raises(ConfigError, match=r"columns \['question'\] that no dataset has"):
        _train(model, tmp_path, router_mapping={"question": "query"})
    with pytest.raises(ConfigError, match=r"router_mapping\['query'\]: the Router has no route for task 'passage'"):
        _train(model, tmp_path, router_mapping={"query": "passage"})
    with pytest.raises(ConfigError, match="not a Router"):
        _train(tiny_encoder, tmp_path, router_mapping={"query": "query"})


def test_finetune_maps_the_query_column_to_the_query_route(tiny_encoder: SentenceEncoder) -> None:
    columns = ["query", "positive", "negative_1"]
    assert query_document_mapping(_router_model(tiny_encoder), columns) == {
        "query": "query",
        "positive": "document",
        "negative_1": "document",
    }
    assert query_document_mapping(tiny_encoder, columns) == {}
