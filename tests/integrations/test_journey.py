"""The user's journey with the real model: finetune -> ingest -> finetune again into the same folder -> the same
ingest. The second ingest must not keep the first model's vectors: it refuses (nothing written) and, asked to
re-encode, stores the new model's vectors; run again, it writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "sbert_docs"


def finetune(pairs: Path, output: Path) -> None:
    argv = ["finetune", "--pairs", str(pairs), "--corpus", str(EXAMPLE / "corpus.jsonl"), "--output", str(output)]
    # Small and quick: one epoch of a few steps; settings under which both runs keep their fine-tuned model.
    argv += ["--epochs", "1", "--batch-size", "16", "--lr", "5e-5", "--hard-negatives", "0", "--dev-size", "20"]
    argv += ["--max-seq-length", "64", "--overwrite", "--quiet"]
    assert main(argv) == 0


def stored_vectors(folder: Path) -> dict[str, np.ndarray]:
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(folder))
    try:
        points, _ = client.scroll("docs", limit=1000, with_payload=True, with_vectors=True)
    finally:
        client.close()
    return {p.payload["_doc_id"]: np.asarray(p.vector) for p in points}


@pytest.mark.slow
def test_retrain_into_the_same_folder_then_the_same_ingest(
    minilm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client")
    lines = (EXAMPLE / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    pairs_a, pairs_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    pairs_a.write_text("\n".join(lines[:60]) + "\n", encoding="utf-8")
    pairs_b.write_text("\n".join(lines[149:210]) + "\n", encoding="utf-8")
    model, store = tmp_path / "out" / "m", tmp_path / "qdrant"
    ingest = ["ingest", str(EXAMPLE / "corpus.jsonl"), "--model", str(model), "--qdrant", str(store)]
    ingest += ["--collection", "docs", "--quiet"]

    finetune(pairs_a, model)
    fingerprint_a = SentenceEncoder(model, device="cpu").fingerprint
    assert main(ingest) == 0
    first = stored_vectors(store)
    finetune(pairs_b, model)
    model_b = SentenceEncoder(model, device="cpu")
    assert model_b.fingerprint != fingerprint_a  # both runs kept a fine-tuned model: the weights differ
    capsys.readouterr()

    assert main(ingest) == 2  # before: "0 written, 85 skipped (already present)", model A's vectors kept
    message = capsys.readouterr().err
    assert fingerprint_a in message and model_b.fingerprint in message and "--reencode" in message
    assert {k: v.tolist() for k, v in stored_vectors(store).items()} == {k: v.tolist() for k, v in first.items()}

    assert main([*ingest, "--reencode"]) == 0
    assert "85 stored documents were re-encoded" in capsys.readouterr().out
    rows = [json.loads(line) for line in (EXAMPLE / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [f"{r['title']} {r['text']}".strip() if r.get("title") else r["text"] for r in rows]
    want = model_b.encode_documents(texts)
    stored = stored_vectors(store)
    for row, vector in zip(rows, want, strict=True):
        np.testing.assert_allclose(stored[row["_id"]], vector / np.linalg.norm(vector), rtol=0, atol=1e-5)

    assert main([*ingest, "--reencode"]) == 0
    assert "0 written (0 overwritten), 85 skipped" in capsys.readouterr().out
