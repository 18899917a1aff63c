"""``sbert-plugins ingest`` and ``sbert-plugins search`` end to end, with the tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from sbert_plugins.cli import main
from tests.integrations.corpus import make_docs, make_text


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"_id": d["id"], "text": d["text"], **d["metadata"]} for d in make_docs(15)]
    rows.append({"_id": "bad", "text": ""})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("target", ["--qdrant", "--chroma"])
def test_ingest_then_search(
    target: str, corpus: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client" if target == "--qdrant" else "chromadb")
    common = [
        "--model",
        str(tiny_model_dir),
        "--device",
        "cpu",
        target,
        str(tmp_path / "store"),
        "--collection",
        "docs",
    ]
    code, out, _ = run(capsys, "ingest", str(corpus), *common, "--quiet")
    assert code == 0
    assert "15 written" in out and "1 rejected" in out and "id 'bad'" in out and "text is empty" in out
    code, out, _ = run(capsys, "ingest", str(corpus), *common, "--quiet")
    assert code == 0 and "0 written" in out and "15 skipped" in out

    code, out, _ = run(capsys, "search", make_text(3), *common, "-k", "2", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 2
    assert hits[0]["id"] == "doc-3" and hits[0]["text"] == make_text(3) and hits[0]["metadata"]["n"] == 3
    code, out, _ = run(capsys, "search", make_text(3), *common, "-k", "3", "--filter", "parity=even")
    assert code == 0 and len(out.splitlines()) == 3 and "doc-3" not in out


def test_hybrid_ingest_and_search_modes(
    corpus: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client")
    common = ["--model", str(tiny_model_dir), "--qdrant", str(tmp_path / "q"), "--collection", "h"]
    assert run(capsys, "ingest", str(corpus), *common, "--hybrid", "--quiet")[0] == 0
    for mode in ("sparse", "dense", "hybrid"):
        code, out, _ = run(capsys, "search", make_text(8), *common, "--mode", mode, "-k", "1", "--json")
        assert code == 0 and json.loads(out)[0]["id"] == "doc-8", mode


def test_usage_errors_exit_2_with_a_message(
    corpus: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chroma = ["--model", str(tiny_model_dir), "--chroma", str(tmp_path / "c"), "--collection", "docs"]
    code, _, err = run(capsys, "ingest", str(corpus), *chroma, "--hybrid")
    assert code == 2 and "--qdrant only" in err
    code, _, err = run(capsys, "search", "x", *chroma, "-k", "0")
    assert code == 2 and "-k must be a positive integer" in err
    code, _, err = run(capsys, "search", "x", *chroma)
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "search", "x", *chroma, "--filter", "novalue")
    assert code == 2 and "KEY=VALUE" in err
    with pytest.raises(SystemExit):
        main(["ingest", str(corpus), "--model", str(tiny_model_dir), "--collection", "c"])  # no target


def test_rerank_without_cross_encoder_support_is_a_clear_error(
    corpus: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("qdrant_client")
    common = ["--model", str(tiny_model_dir), "--qdrant", str(tmp_path / "q"), "--collection", "docs"]
    assert run(capsys, "ingest", str(corpus), *common, "--quiet")[0] == 0
    monkeypatch.setitem(sys.modules, "sbert_plugins.cross_encoder", None)  # as if the module were absent
    code, _, err = run(capsys, "search", "a dog", *common, "--rerank", "some-cross-encoder")
    assert code == 2 and "--rerank needs sbert_plugins.cross_encoder" in err


@pytest.fixture()
def reranked_search(
    corpus: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[list[str], str]:
    """The corpus ingested into embedded Qdrant: the arguments that reach it, and a tiny cross-encoder's folder."""
    pytest.importorskip("qdrant_client")
    tiny = pytest.importorskip("tests.sbert_plugins.cross_encoder_tiny")
    common = ["--model", str(tiny_model_dir), "--qdrant", str(tmp_path / "q"), "--collection", "docs"]
    assert run(capsys, "ingest", str(corpus), *common, "--quiet")[0] == 0
    return common, str(tiny.build_tiny_classifier(tmp_path / "ce"))


def test_rerank_orders_by_cross_encoder_scores(
    reranked_search: tuple[list[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    cross_encoder = pytest.importorskip("sbert_plugins.cross_encoder")
    common, reranker = reranked_search
    code, out, _ = run(
        capsys, "search", "a dog runs", *common, "-k", "3", "--fetch-k", "10", "--rerank", reranker, "--json"
    )
    assert code == 0
    hits = json.loads(out)
    code, out, _ = run(capsys, "search", "a dog runs", *common, "-k", "10", "--json")
    candidates = [h["text"] for h in json.loads(out)]
    scores = cross_encoder.CrossEncoder(reranker, device="cpu").predict([("a dog runs", t) for t in candidates])
    best = sorted(zip(scores.tolist(), candidates, strict=True), key=lambda pair: -pair[0])[:3]
    assert [h["text"] for h in hits] == [text for _, text in best]
    assert [h["score"] for h in hits] == pytest.approx([score for score, _ in best], abs=1e-5)


def test_rerank_with_a_fusion_weight_follows_the_fusion_rule(
    reranked_search: tuple[list[str], str], tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mix is of the cross-encoder's logits and the bi-encoder's similarities (not the search score, nor
    probabilities); failed before the one fusion rule, when the CLI mixed sigmoid scores with search scores."""
    cross_encoder = pytest.importorskip("sbert_plugins.cross_encoder")
    from sbert_plugins import SentenceEncoder

    common, reranker = reranked_search
    searched = json.loads(run(capsys, "search", "a dog runs", *common, "-k", "10", "--json")[1])

    def mixed(weight: str) -> list[dict]:
        argv = ["-k", "10", "--fetch-k", "10", "--rerank", reranker, "--fusion-weight", weight, "--json"]
        return json.loads(run(capsys, "search", "a dog runs", *common, *argv)[1])

    texts = [h["text"] for h in searched]
    logits = cross_encoder.CrossEncoder(reranker, device="cpu").predict(
        [("a dog runs", t) for t in texts], activation="identity"
    )
    first = cross_encoder.first_stage_scores(SentenceEncoder(tiny_model_dir, device="cpu"), "a dog runs", texts)
    fused = cross_encoder.fuse_scores(first, logits, 0.3)
    expected = [
        (searched[i]["id"], pytest.approx(float(fused[i]), abs=1e-5)) for i in np.argsort(-fused, kind="stable")
    ]
    assert [(h["id"], h["score"]) for h in mixed("0.3")] == expected
    assert [h["id"] for h in mixed("0")] == [h["id"] for h in searched]  # the bi-encoder's order alone


@pytest.mark.parametrize(
    ("weight", "extra", "message"), [("0.5", [], "pass --rerank too"), ("1.5", ["--rerank", "x"], "must lie in")]
)
def test_a_fusion_weight_without_rerank_or_out_of_range_is_a_clear_error(
    reranked_search: tuple[list[str], str],
    capsys: pytest.CaptureFixture[str],
    weight: str,
    extra: list[str],
    message: str,
) -> None:
    common, _ = reranked_search
    code, _, err = run(capsys, "search", "a dog", *common, "--fusion-weight", weight, *extra)
    assert code == 2 and message in err
