"""SparseEncoder behaviour: encode's output, max_active_dims, decode, similarity, save/load, fingerprint, errors,
from_transformer with and without an MLM head, bf16."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from sbert_plugins import SentenceEncoder, SparseEncoder
from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse import SparseStaticEmbedding, sparse_rows
from tests.sbert_plugins.sparse.conftest import TEXTS


@pytest.fixture()
def splade(reference_folders: dict[str, Path]) -> SparseEncoder:
    return SparseEncoder(reference_folders["splade"], device="cpu")


def test_encode_returns_coalesced_sparse_rows_in_input_order(splade: SparseEncoder) -> None:
    batch = splade.encode(TEXTS, max_tokens_per_batch=16)  # several batches, sorted by length
    assert batch.is_sparse and batch.is_coalesced() and batch.dtype == torch.float32
    assert batch.shape == (len(TEXTS), splade.embedding_dim) and batch.device.type == "cpu"
    assert splade.embedding_dim == splade.vocab_size == len(splade.tokenizer.get_vocab())
    one = splade.encode(TEXTS[1])
    assert one.dim() == 1 and one.is_sparse
    torch.testing.assert_close(one.to_dense(), batch.to_dense()[1], atol=1e-6, rtol=0)
    dense = splade.encode(TEXTS, convert_to_sparse_tensor=False)
    assert not dense.is_sparse
    torch.testing.assert_close(dense, batch.to_dense(), atol=1e-6, rtol=0)
    assert splade.encode([]).shape == (0, splade.embedding_dim)


def test_max_active_dims_keeps_the_top_k_per_row(reference_folders: dict[str, Path]) -> None:
    full = SparseEncoder(reference_folders["splade"], device="cpu").encode(TEXTS[:4]).to_dense()
    capped = SparseEncoder(reference_folders["splade"], device="cpu", max_active_dims=5)
    for result in (
        capped.encode(TEXTS[:4]),
        SparseEncoder(reference_folders["splade"]).encode(TEXTS[:4], max_active_dims=5),
    ):
        rows = sparse_rows(result)
        assert all(len(row.indices) == 5 for row in rows)
        for row, expected in zip(rows, full, strict=True):
            assert set(row.indices) == set(torch.topk(expected, 5).indices.tolist())
            torch.testing.assert_close(torch.tensor(row.values), expected[list(row.indices)])
    with pytest.raises(ConfigError, match="max_active_dims must be a positive integer"):
        capped.encode(TEXTS, max_active_dims=0)


def test_csr_max_active_dims_defaults_to_k_and_widens_the_code(reference_folders: dict[str, Path]) -> None:
    csr = SparseEncoder(reference_folders["csr"], device="cpu")
    assert csr.max_active_dims == 4
    assert {len(row.indices) for row in sparse_rows(csr.encode(TEXTS[:4]))} <= {1, 2, 3, 4}
    assert max(len(row.indices) for row in sparse_rows(csr.encode(TEXTS[:4], max_active_dims=12))) > 4
    with pytest.raises(ConfigError, match="latents, not tokens"):
        csr.decode(csr.encode(TEXTS[:1]))


def test_decode_lists_tokens_by_weight(splade: SparseEncoder) -> None:
    embeddings = splade.encode(TEXTS[:2])
    decoded = splade.decode(embeddings, top_k=3)
    assert len(decoded) == 2 and all(len(row) == 3 for row in decoded)
    weights = [w for _, w in decoded[0]]
    assert weights == sorted(weights, reverse=True)
    dense = embeddings.to_dense()[0]
    assert decoded[0][0] == (
        splade.tokenizer.convert_ids_to_tokens(int(dense.argmax())),
        pytest.approx(float(dense.max())),
    )
    assert len(splade.decode(embeddings[0])[0]) == embeddings[0]._nnz()


def test_similarity_is_the_dot_product(splade: SparseEncoder) -> None:
    queries, documents = splade.encode_queries(TEXTS[:2]), splade.encode_documents(TEXTS)
    scores = splade.similarity(queries, documents)
    assert splade.similarity_fn_name == "dot"
    assert scores.shape == (2, len(TEXTS)) and not scores.is_sparse
    torch.testing.assert_close(scores, queries.to_dense() @ documents.to_dense().T)
    torch.testing.assert_close(splade.similarity(queries.to_dense(), documents), scores)


def test_save_load_round_trip_keeps_vectors_fingerprint_and_settings(splade: SparseEncoder, tmp_path: Path) -> None:
    splade.max_active_dims = 7
    splade.prompts = {"query": "query: ", "document": ""}
    splade.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "SparseEncoder" and config["max_active_dims"] == 7
    loaded = SparseEncoder(tmp_path / "m", device="cpu")
    assert loaded.max_active_dims == 7 and loaded.prompts == splade.prompts
    assert loaded.fingerprint == splade.fingerprint
    torch.testing.assert_close(loaded.encode_queries(TEXTS).to_dense(), splade.encode_queries(TEXTS).to_dense())
    # the query prompt is prepended: the vectors differ from plain encode
    assert not torch.equal(loaded.encode_queries(TEXTS[:1]).to_dense(), loaded.encode(TEXTS[:1]).to_dense())


def test_fingerprint_changes_after_a_weight_change(splade: SparseEncoder) -> None:
    before = splade.fingerprint
    splade.encode(TEXTS)  # encoding changes nothing
    assert splade.fingerprint == before
    with torch.no_grad():
        next(splade.parameters()).add_(1e-3)
    assert splade.fingerprint != before


def test_inference_free_queries_use_the_static_weights(reference_folders: dict[str, Path]) -> None:
    model = SparseEncoder(reference_folders["inference_free"], device="cpu")
    assert model.is_inference_free
    static = model[0].chain("query")[0]
    assert isinstance(static, SparseStaticEmbedding)
    row = sparse_rows(model.encode_queries("hello world"))[0]
    ids = model.tokenizer("hello world", add_special_tokens=False)["input_ids"]
    assert row.indices == tuple(sorted(set(ids)))
    torch.testing.assert_close(torch.tensor(row.values), static.weight.detach()[list(row.indices)])


def test_bad_folders_name_the_file(reference_folders: dict[str, Path], tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config_sentence_transformers.json: model_type is 'SentenceTransformer'"):
        folder = tmp_path / "dense"
        shutil.copytree(tiny_model_dir, folder)
        config = folder / "config_sentence_transformers.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "SentenceTransformer"}))
        SparseEncoder(folder)
    (folder / "config_sentence_transformers.json").unlink()
    with pytest.raises(ConfigError, match=r"modules.json: the model does not end in a sparse module"):
        SparseEncoder(folder)
    broken = tmp_path / "broken"
    shutil.copytree(reference_folders["splade"], broken)
    (broken / "1_SpladePooling" / "config.json").unlink()
    with pytest.raises(ConfigError, match=r"1_SpladePooling: the module's config.json is missing"):
        SparseEncoder(broken)
    (broken / "1_SpladePooling" / "config.json").write_text(json.dumps({"pooling_strategy": "mean"}))
    with pytest.raises(ConfigError, match=r"1_SpladePooling/config.json: SpladePooling pooling_strategy 'mean'"):
        SparseEncoder(broken)
    csr = tmp_path / "csr"
    shutil.copytree(reference_folders["csr"], csr)
    (csr / "2_SparseAutoEncoder" / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"2_SparseAutoEncoder: no model.safetensors"):
        SparseEncoder(csr)
    with pytest.raises(ConfigError, match="precision='int8' does not apply"):
        SparseEncoder(reference_folders["splade"], precision="int8")
    with pytest.raises(
        ConfigError, match="model_type is 'SparseEncoder', not 'SentenceTransformer'; load it with SparseEncoder"
    ):
        SentenceEncoder(reference_folders["splade"])


def test_from_transformer_uses_the_checkpoint_head(mlm_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    from transformers import AutoModelForMaskedLM

    with caplog.at_level(logging.WARNING, logger="sbert_plugins"):
        model = SparseEncoder.from_transformer(mlm_dir, pooling="sum", activation="log1p_relu", device="cpu")
    assert "initialised fresh" not in caplog.text
    head = AutoModelForMaskedLM.from_pretrained(str(mlm_dir))
    for name, tensor in head.state_dict().items():
        torch.testing.assert_close(model[0].auto_model.state_dict()[name], tensor, msg=name)
    assert model[1].get_config_dict() == {
        "pooling_strategy": "sum",
        "activation_function": "log1p_relu",
        "embedding_dimension": model.embedding_dim,
    }
    assert model.encode(TEXTS)._nnz() > 0


def test_from_transformer_without_a_head_ties_it_and_says_what_is_fresh(
    headless_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sbert_plugins"):
        model = SparseEncoder.from_transformer(headless_dir, inference_free=True, device="cpu")
    assert "initialised fresh" in caplog.text and "cls.predictions.transform.dense.weight" in caplog.text
    mlm = model[0].chain("document")[0].auto_model
    assert mlm.get_output_embeddings().weight.data_ptr() == mlm.get_input_embeddings().weight.data_ptr()
    base = SentenceEncoder(headless_dir, device="cpu")[0].auto_model  # the encoder's weights are the checkpoint's
    torch.testing.assert_close(
        mlm.bert.encoder.layer[0].attention.self.query.weight, base.encoder.layer[0].attention.self.query.weight
    )
    queries = model.encode_queries(TEXTS[:2])
    assert torch.all(queries.coalesce().values() == 1.0)  # static query weights start at 1


def test_bf16_matches_fp32_closely(reference_folders: dict[str, Path]) -> None:
    fp32 = SparseEncoder(reference_folders["splade"], device="cpu").encode(TEXTS[:4]).to_dense()
    bf16_model = SparseEncoder(reference_folders["splade"], device="cpu", precision="bf16")
    assert next(bf16_model.parameters()).dtype == torch.bfloat16
    bf16 = bf16_model.encode(TEXTS[:4])
    assert bf16.dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(bf16.to_dense(), fp32, dim=1)
    assert bool((cosine > 0.99).all()), cosine
    assert bf16_model.fingerprint == SparseEncoder(reference_folders["splade"]).fingerprint


@pytest.mark.slow
def test_from_transformer_on_all_minilm(minilm_dir: Path) -> None:
    model = SparseEncoder.from_transformer(minilm_dir, device="cpu")
    assert model.embedding_dim == model.vocab_size == 30522 and model.max_seq_length == 256
    embeddings = model.encode_documents(["The cat sits on the mat.", "A man plays the guitar."])
    assert embeddings.shape == (2, 30522) and embeddings._nnz() > 0
    assert len(model.decode(embeddings, top_k=5)[0]) == 5


def test_a_plain_fill_mask_folder_loads_as_splade(mlm_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    import sbert_plugins.sparse

    with caplog.at_level(logging.WARNING, logger="sbert_plugins"):
        model = SparseEncoder(mlm_dir, device="cpu")
    assert "building SPLADE" in caplog.text
    assert sbert_plugins.sparse.SparseEncoder is SparseEncoder
    built = SparseEncoder.from_transformer(mlm_dir, device="cpu")
    assert model.fingerprint == built.fingerprint
    torch.testing.assert_close(model.encode(TEXTS).to_dense(), built.encode(TEXTS).to_dense())
    with pytest.raises(ConfigError, match="needs a model folder"):
        SparseEncoder()
