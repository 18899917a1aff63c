"""The sbert-plugins command line: encode, similarity, info, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main


def test_encode_txt_to_npy(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("a man plays guitar\nhello world\n", encoding="utf-8")
    out = tmp_path / "emb.npy"
    assert main(["encode", str(source), "-o", str(out), "--model", str(tiny_model_dir), "--quiet"]) == 0
    expected = SentenceEncoder(tiny_model_dir, device="cpu").encode(["a man plays guitar", "hello world"])
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
    assert "wrote 2 embeddings of dimension 32" in capsys.readouterr().out


def test_encode_jsonl_with_bad_line_names_the_line(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text('{"text": "hello"}\n{"txt": "oops"}\n', encoding="utf-8")
    code = main(["encode", str(source), "-o", str(tmp_path / "e.npy"), "--model", str(tiny_model_dir)])
    assert code == 2
    assert "texts.jsonl:2: expected an object with a string field 'text'" in capsys.readouterr().err
    assert not (tmp_path / "e.npy").exists()


def test_similarity_and_info(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similarity", "a man plays guitar", "a man plays guitar", "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    assert "similarity: cosine" in out and "+1.0000 +1.0000" in out
    assert main(["info", "--model", str(tiny_model_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["embedding_dim"] == 32 and info["pooling"] == ["mean"] and info["max_seq_length"] == 64


def test_missing_model_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--model", str(tmp_path / "nope")]) == 2
    assert "could not find model" in capsys.readouterr().err


def test_encode_streams_in_chunks_and_writes_the_final_shape(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "many.txt"
    texts = [f"the {w} plays" for w in ("dog", "cat", "man", "bird", "horse")] * 5
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "emb.npy"
    args = ["encode", str(source), "-o", str(out), "--model", str(tiny_model_dir), "--quiet", "--chunk-size", "7"]
    assert main([*args, "--output-precision", "int8"]) == 0
    assert np.load(out).shape == (25, 32) and np.load(out).dtype == np.int8
    assert main(args) == 0
    expected = SentenceEncoder(tiny_model_dir, device="cpu").encode(texts)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
    assert not list(tmp_path.glob("*.partial"))


def test_int8_chunks_share_one_scale_written_beside_the_output_for_the_queries(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sbert_plugins.quantization import calibration_ranges, quantize_embeddings

    source = tmp_path / "corpus.txt"
    texts = [f"the {w} {v} in the park" for w in ("dog", "cat", "man", "bird", "horse") for v in ("runs", "eats")] * 2
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "corpus.npy"
    common = ["--model", str(tiny_model_dir), "--quiet", "--output-precision", "int8"]
    assert main(["encode", str(source), "-o", str(out), *common, "--chunk-size", "8", "--calibration-size", "6"]) == 0
    assert "int8 ranges from the first 6 texts" in capsys.readouterr().out
    floats = SentenceEncoder(tiny_model_dir, device="cpu").encode(texts)
    ranges = calibration_ranges(floats[:6])
    np.testing.assert_allclose(np.load(tmp_path / "corpus.ranges.npy"), ranges, atol=1e-6)
    # Every chunk on the calibration sample's scale (before: each chunk of 8 on its own min/max).
    stored = np.load(out).astype(np.int16)
    assert np.abs(stored - quantize_embeddings(floats, "int8", ranges=ranges)).max() <= 1

    queries = tmp_path / "queries.txt"
    queries.write_text("the dog runs\n", encoding="utf-8")
    assert (
        main(
            [
                "encode",
                str(queries),
                "-o",
                str(tmp_path / "q.npy"),
                *common,
                "--ranges",
                str(tmp_path / "corpus.ranges.npy"),
            ]
        )
        == 0
    )
    query = SentenceEncoder(tiny_model_dir, device="cpu").encode(
        ["the dog runs"], output_precision="int8", ranges=ranges
    )
    assert np.abs(np.load(tmp_path / "q.npy").astype(np.int16) - query).max() <= 1
    assert not (tmp_path / "q.ranges.npy").exists()  # given ranges are not written again
    assert main(["encode", str(source), "-o", str(out), *common, "--chunk-size", "4", "--calibration-size", "6"]) == 2
    assert "--calibration-size (6) must be at most --chunk-size (4)" in capsys.readouterr().err
