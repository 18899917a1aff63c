from __future__ import annotations

from pathlib import Path

import pytest

from sbert_plugins.errors import DataError
from tests.trainers.finetune.conftest import PASSAGES, write_jsonl
from trainers.finetune import read_pairs


def test_text_pairs_build_a_corpus_of_their_passages(text_pairs: Path) -> None:
    data = read_pairs(text_pairs)
    assert data.pairs == 24 and data.duplicates == 0
    assert sorted(data.corpus.values()) == sorted(PASSAGES.values())
    assert len(data.queries) == 24
    for query_id, docs in data.relevant.items():
        assert len(docs) == 1 and data.corpus[docs[0]] in PASSAGES.values()
        assert query_id in data.queries


def test_positive_ids_point_into_the_corpus(pair_files: tuple[Path, Path]) -> None:
    pairs, corpus = pair_files
    data = read_pairs(pairs, corpus)
    assert set(data.corpus) == set(PASSAGES)
    assert data.relevant[next(iter(data.queries))] == ["dog"]


def test_duplicates_are_dropped_and_counted_and_negatives_kept(tmp_path: Path) -> None:
    rows = [
        {"query": "who plays guitar", "positive": "a man plays guitar", "negative": "a woman plays piano"},
        {"query": "who plays guitar", "positive": "a man plays guitar"},
        {"query": "who plays guitar", "positive": "a man plays guitar", "negatives": ["the moon"]},
        {"query": "who plays piano", "positive": "a woman plays piano"},
    ]
    data = read_pairs(write_jsonl(tmp_path / "p.jsonl", rows))
    assert data.pairs == 2 and data.duplicates == 2
    guitar = next(q for q, text in data.queries.items() if text == "who plays guitar")
    assert [data.corpus[d] for d in data.negatives[guitar]] == ["a woman plays piano"]


def test_every_problem_is_reported_with_file_and_line(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "a", "text": "the dog"}, {"_id": "b", "text": "the cat"}])
    rows = [
        {"query": "what eats", "positive_id": "a"},
        "{not json",
        {"positive": "the dog"},
        {"query": "   ", "positive": "the cat"},
        {"query": "who", "positive_id": "zzz"},
        {"query": "who", "positive": "the cat", "negatives": "the dog"},
        {"query": "who", "positive": "the cat", "score": 1},
    ]
    pairs = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with pytest.raises(DataError) as caught:
        read_pairs(pairs, corpus)
    message = str(caught.value)
    assert "6 problem(s)" in message
    assert f"{pairs}:2: invalid JSON" in message
    assert f"{pairs}:3: missing field 'query'" in message
    assert f"{pairs}:4: field 'query' is empty" in message
    assert f"{pairs}:5: positive_id 'zzz' is not a document id of the corpus" in message
    assert f"{pairs}:6: field 'negatives' must be a list" in message
    assert f"{pairs}:7: unknown field(s) ['score']" in message


def test_corpus_problems_name_their_line(tmp_path: Path) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl", [{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}, {"text": "z"}]
    )
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "q", "positive_id": "a"}])
    with pytest.raises(DataError, match=r"corpus.jsonl:2: document id 'a' appears twice[\s\S]*corpus.jsonl:3: missing"):
        read_pairs(pairs, corpus)


def _beir(folder: Path, qrels: str) -> Path:
    write_jsonl(
        folder / "corpus.jsonl", [{"_id": "d1", "title": "Dogs", "text": "the dog"}, {"_id": "d2", "text": "cat"}]
    )
    write_jsonl(folder / "queries.jsonl", [{"_id": "1", "text": "who eats"}, {"_id": "2", "text": "who sleeps"}])
    (folder / "qrels").mkdir()
    (folder / "qrels" / "train.tsv").write_text(qrels, encoding="utf-8")
    return folder


def test_beir_folder_reads_corpus_queries_and_qrels(tmp_path: Path) -> None:
    data = read_pairs(_beir(tmp_path, "query-id\tcorpus-id\tscore\n1\td1\t1\n2\td2\t1\n2\td2\t1\n1\td2\t0\n"))
    assert data.corpus["d1"] == "Dogs the dog"
    assert data.relevant == {"1": ["d1"], "2": ["d2"]}
    assert data.duplicates == 1 and data.pairs == 2


def test_beir_qrels_with_unknown_ids_name_the_line(tmp_path: Path) -> None:
    folder = _beir(tmp_path, "query-id\tcorpus-id\tscore\n1\td1\t1\n2\tnope\t1\n9\td1\t1\n")
    with pytest.raises(DataError) as caught:
        read_pairs(folder)
    assert "train.tsv:3: corpus id 'nope' is not in the corpus" in str(caught.value)
    assert "train.tsv:4: query id '9' is not in queries.jsonl" in str(caught.value)


def test_missing_inputs_and_too_few_queries(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such pairs file"):
        read_pairs(tmp_path / "absent.jsonl")
    (tmp_path / "beir").mkdir()
    with pytest.raises(DataError, match="missing"):
        read_pairs(tmp_path / "beir")
    one = write_jsonl(tmp_path / "one.jsonl", [{"query": "q", "positive": "p"}, {"query": "q", "positive": "r"}])
    with pytest.raises(DataError, match="at least 2"):
        read_pairs(one)
