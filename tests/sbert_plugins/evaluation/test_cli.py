"""File readers (STS CSV, BEIR JSONL / qrels) and the ``sbert-plugins evaluate`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from sbert_plugins.errors import DataError
from sbert_plugins.evaluation import EmbeddingSimilarityEvaluator, InformationRetrievalEvaluator
from sbert_plugins.evaluation.readers import (
    find_beir_files,
    read_beir_corpus,
    read_beir_queries,
    read_qrels,
    read_sts,
)
from tests.sbert_plugins.evaluation.conftest import make_sentences


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    return write(path, "".join(json.dumps(row) + "\n" for row in rows))


# ---- STS ---------------------------------------------------------------------------------------


def test_read_sts_without_header_quoted_commas_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "sts.csv", 'a man plays,"a man, playing",5.0\r\ndog,cat,0\r\n\r\n')
    data = read_sts(path, score_scale=5)
    assert data.sentences1 == ["a man plays", "dog"]
    assert data.sentences2 == ["a man, playing", "cat"]
    assert data.scores == [1.0, 0.0]


def test_read_sts_with_header_in_any_column_order(tmp_path: Path) -> None:
    path = write(tmp_path / "sts.tsv", "score\tid\tsentence2\tsentence1\n4\t1\tb\ta\n2\t2\td\tc\n")
    data = read_sts(path)
    assert (data.sentences1, data.sentences2, data.scores) == (["a", "c"], ["b", "d"], [4.0, 2.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,1\nc,d,high\n", r"sts.csv:2: score 'high'"),
        ("a,b,1\nc,d\n", r"sts.csv:2: expected columns"),
        ("a,b,1\nc,d,nan\n", r"sts.csv:2: score 'nan' is not a finite"),
        ("text_a,text_b,label\na,b,1\n", r"sts.csv:1: the header"),
        ("a,b,1\n", "at least two"),
    ],
)
def test_read_sts_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_sts(write(tmp_path / "sts.csv", text))


def test_read_sts_bad_scale_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_sts(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="score_scale"):
        read_sts(write(tmp_path / "s.csv", "a,b,1\nc,d,2\n"), score_scale=0)


# ---- BEIR --------------------------------------------------------------------------------------


def make_beir(folder: Path, *, parts: int = 1) -> dict[str, object]:
    """A small BEIR folder; returns what the readers should produce."""
    docs = make_sentences(12, seed=31, min_words=5, max_words=10)
    rows = [{"_id": f"doc{i}", "title": "title" if i % 2 else "", "text": t} for i, t in enumerate(docs)]
    per_part = -(-len(rows) // parts)
    for p in range(parts):
        name = "corpus.jsonl" if parts == 1 else f"corpus-part{p + 1}-of-{parts}.jsonl"
        jsonl(folder / name, rows[p * per_part : (p + 1) * per_part])
    queries = {f"q{i}": docs[i] for i in range(4)}
    jsonl(folder / "queries.jsonl", [{"_id": k, "text": v, "metadata": {}} for k, v in queries.items()])
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\tdoc{i}\t1\n" for i in range(4)) + "q0\tdoc5\t0\n"
    write(folder / "qrels" / "train.tsv", qrels)
    corpus = {row["_id"]: f"{row['title']} {row['text']}".strip() for row in rows}
    return {"corpus": corpus, "queries": queries, "qrels": {f"q{i}": {f"doc{i}"} for i in range(4)}}


def test_beir_readers(tmp_path: Path) -> None:
    expected = make_beir(tmp_path, parts=3)
    files = find_beir_files(tmp_path)
    assert [p.name for p in files.corpus] == [f"corpus-part{i}-of-3.jsonl" for i in (1, 2, 3)]
    assert files.qrels.name == "train.tsv"
    assert read_beir_corpus(files.corpus) == expected["corpus"]
    assert read_beir_queries(files.queries) == expected["queries"]
    assert read_qrels(files.qrels) == expected["qrels"]  # the score-0 judgment is left out


def test_corpus_parts_are_read_in_numeric_order(tmp_path: Path) -> None:
    for i in (1, 2, 10):
        jsonl(tmp_path / f"corpus-part{i}.jsonl", [{"_id": f"d{i}", "text": "x"}])
    write(tmp_path / "queries.jsonl", '{"_id": "q", "text": "x"}\n')
    write(tmp_path / "qrels" / "test.tsv", "q\td1\t1\n")
    write(tmp_path / "qrels" / "dev.tsv", "q\td1\t1\n")
    files = find_beir_files(tmp_path)
    assert [p.name for p in files.corpus] == ["corpus-part1.jsonl", "corpus-part2.jsonl", "corpus-part10.jsonl"]
    assert files.qrels.name == "test.tsv"
    assert find_beir_files(tmp_path, split="dev").qrels.name == "dev.tsv"
    with pytest.raises(DataError, match=r"available splits: \['dev', 'test'\]"):
        find_beir_files(tmp_path, split="train")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n',
            r"c.jsonl:2: document id 'a' appears twice \(first at .*c.jsonl:1\)",
        ),
        ('{"_id": "a", "text": "x"}\n{bad json\n', r"c.jsonl:2: invalid JSON"),
        ('{"_id": "a"}\n', r"c.jsonl:1: missing field 'text'"),
        ('{"text": "x"}\n', r"c.jsonl:1: missing document id '_id'"),
        ('["a"]\n', r"c.jsonl:1: expected a JSON object"),
    ],
)
def test_corpus_errors_name_file_and_line(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_beir_corpus([write(tmp_path / "c.jsonl", lines)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q\td\t1\nq\td\tyes\n", r"qrels.tsv:2: score 'yes'"),
        ("q\td\n", r"qrels.tsv:1: expected 3 tab-separated columns"),
        ("query-id\tcorpus-id\tscore\nq\td\t0\n", "no relevance judgment"),
    ],
)
def test_qrels_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_qrels(write(tmp_path / "qrels.tsv", text))


def test_trec_style_qrels(tmp_path: Path) -> None:
    assert read_qrels(write(tmp_path / "q.txt", "q1 0 d1 2\nq1 0 d2 0\n")) == {"q1": {"d1"}}


# ---- the command -------------------------------------------------------------------------------


def test_evaluate_sts_prints_and_writes_the_evaluators_metrics(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s1, s2 = make_sentences(20, seed=41), make_sentences(20, seed=42)
    scores = [float(i % 6) for i in range(20)]
    csv_file = write(
        tmp_path / "sts.csv",
        "sentence1,sentence2,score\n" + "".join(f"{a},{b},{s}\n" for a, b, s in zip(s1, s2, scores, strict=True)),
    )
    output = tmp_path / "out" / "metrics.json"
    code = main(["evaluate", "--model", str(tiny_model_dir), "--device", "cpu", "--sts", str(csv_file),
                 "--score-scale", "5", "--output", str(output)])  # fmt: skip
    assert code == 0
    expected = EmbeddingSimilarityEvaluator(
        s1, s2, scores, similarity_fn_names=["cosine", "dot", "euclidean", "manhattan"]
    )(SentenceEncoder(tiny_model_dir, device="cpu"))
    printed = capsys.readouterr().out
    assert re.search(rf"^spearman_cosine +{expected['spearman_cosine']:.6f}$", printed, re.MULTILINE)
    assert "primary metric: spearman_cosine" in printed  # the model's own similarity
    report = json.loads(output.read_text())
    assert report["metrics"] == pytest.approx(expected) and report["task"] == "sts"


def test_evaluate_ir_from_a_folder_and_from_explicit_files(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected_data = make_beir(tmp_path / "beir", parts=3)
    model = SentenceEncoder(tiny_model_dir, device="cpu")
    expected = InformationRetrievalEvaluator(
        expected_data["queries"], expected_data["corpus"], expected_data["qrels"], name="sci"
    )(model)  # type: ignore[arg-type]
    base = ["evaluate", "--model", str(tiny_model_dir), "--device", "cpu", "--name", "sci"]
    assert main([*base, "--ir", str(tmp_path / "beir"), "--output", str(tmp_path / "a.json")]) == 0
    files = find_beir_files(tmp_path / "beir")
    explicit = ["--corpus", *map(str, files.corpus), "--queries", str(files.queries), "--qrels", str(files.qrels)]
    assert main([*base, *explicit, "--output", str(tmp_path / "b.json")]) == 0
    for name in ("a.json", "b.json"):
        report = json.loads((tmp_path / name).read_text())
        assert report["metrics"] == pytest.approx(expected)
        assert report["primary_metric"] == "sci_cosine_ndcg@10"
    assert "sci_cosine_ndcg@10" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give exactly one of"),
        (["--sts", "a.csv", "--ir", "folder"], "found --sts and --ir"),
        (["--corpus", "c.jsonl"], "missing --queries, --qrels"),
        (["--sts", "missing.csv"], "missing.csv: no such file"),
        (["--sts", "bad.csv"], r"bad.csv:2: score"),
        (["--sts", "bad.csv", "--batch-size", "0"], "--batch-size"),
    ],
)
def test_evaluate_errors_exit_2_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bad.csv", "a,b,1\nc,d,x\n")
    assert main(["evaluate", "--model", "unused", *extra]) == 2
    assert message in capsys.readouterr().err
