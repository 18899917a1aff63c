"""The one reader of text data files: UTF-8 lines (BOM, undecodable lines, binary files), JSONL objects, BEIR
corpus and query rows; and the callers that go through it, from the command line and the libraries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbert_plugins.cli import main
from sbert_plugins.errors import DataError
from sbert_plugins.readers import (
    BadLine,
    CorpusDocument,
    iter_corpus,
    iter_jsonl,
    iter_lines,
    iter_queries,
    read_csv_rows,
    read_jsonl,
    read_lines,
)

BAD_UTF8 = b'{"_id": "x", "text": "caf\xe9"}\n'  # Latin-1, not UTF-8


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_lines_drop_a_bom_and_name_an_undecodable_line(tmp_path: Path) -> None:
    file = _write(tmp_path / "t.txt", b"\xef\xbb\xbfhello\r\n" + b"caf\xe9\n" + b"world\n")
    lines = list(iter_lines(file))
    assert lines[0] == (f"{file}:1", "hello") and lines[2] == (f"{file}:3", "world")
    bad = lines[1][1]
    assert (
        isinstance(bad, BadLine) and bad.where == f"{file}:2" and "not UTF-8 text (byte 0xe9 at column 4)" in str(bad)
    )
    with pytest.raises(DataError, match=r"t.txt:2: not UTF-8 text"):
        list(read_lines(file))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}", r"not a text file \(binary data: a NUL byte at offset 7\)"),
        ('{"text": "a"}\n'.encode("utf-16"), "UTF-16 text; save it as UTF-8"),
    ],
)
def test_a_file_that_is_not_utf8_text_is_one_error(tmp_path: Path, content: bytes, message: str) -> None:
    file = _write(tmp_path / "data.jsonl", content)
    with pytest.raises(DataError, match=message):
        list(iter_jsonl(file))
    with pytest.raises(DataError, match="no such file"):
        list(iter_lines(tmp_path / "missing.txt"))


def test_jsonl_bad_lines_are_named_and_the_strict_reader_stops_at_the_first(tmp_path: Path) -> None:
    file = _write(tmp_path / "c.jsonl", b'{"a": 1}\n\n[1]\n{oops\n' + BAD_UTF8)
    rows = list(iter_jsonl(file))
    assert rows[0] == (f"{file}:1", {"a": 1})
    assert [str(row) for _, row in rows[1:]] == [
        f"{file}:3: expected a JSON object, found list",
        f"{file}:4: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{file}:5: not UTF-8 text (byte 0xe9 at column 26); save the file as UTF-8",
    ]
    with pytest.raises(DataError, match=r"c.jsonl:3: expected a JSON object"):
        list(read_jsonl(file))


def test_corpus_and_query_rows(tmp_path: Path) -> None:
    corpus = _write(
        tmp_path / "corpus.jsonl",
        b"\xef\xbb\xbf"
        + "\n".join(
            json.dumps(row)
            for row in [
                {"_id": "a", "title": "T", "text": "x"},
                {"id": 7, "text": "y"},
                {"_id": "a", "text": "z"},
                {"_id": "b", "text": 3},
                {"text": "no id"},
                {"_id": "c", "title": "", "text": " "},
            ]
        ).encode(),
    )
    found = list(iter_corpus([corpus]))
    assert [(d.id, d.joined) for d in found if isinstance(d, CorpusDocument)] == [("a", "T x"), ("7", "y")]
    assert [str(d).split(": ", 1)[1] for d in found if isinstance(d, BadLine)] == [
        f"document id 'a' appears twice (first at {corpus}:1)",
        "field 'text' must be a string, found int",
        "missing document id '_id' (a non-empty string or an integer), found None",
        "document 'c' has an empty text (and title)",
    ]
    queries = _write(tmp_path / "queries.jsonl", b'{"_id": "q1", "text": "why"}\n{"_id": "q1", "text": "again"}\n')
    assert [str(q) if isinstance(q, BadLine) else q for q in iter_queries(queries)] == [
        ("q1", "why"),
        f"{queries}:2: query id 'q1' appears twice (first at {queries}:1)",
    ]


def test_encode_of_a_binary_file_exits_2_with_one_message(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed before: a UnicodeDecodeError traceback."""
    source = _write(tmp_path / "vectors.txt", b"\x93NUMPY\x01\x00v\x00" + bytes(range(256)))
    code = main(["encode", str(source), "-o", str(tmp_path / "out.npy"), "--model", str(tiny_model_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"{source}: not a text file" in err and "Traceback" not in err
    source = _write(tmp_path / "texts.jsonl", b'{"text": "a man"}\n' + BAD_UTF8.replace(b"_id", b"id"))
    assert main(["encode", str(source), "-o", str(tmp_path / "out.npy"), "--model", str(tiny_model_dir)]) == 2
    assert f"{source}:2: not UTF-8 text" in capsys.readouterr().err


def test_csv_rows_name_the_line_of_a_field_over_the_csv_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "sts.csv", b'a,b,1\n"multi\nline",c,2\n' + b"x" * 200_000 + b",y,3\n")
    rows = read_csv_rows(path)
    assert next(rows) == (1, ["a", "b", "1"])
    assert next(rows) == (3, ["multi\nline", "c", "2"])  # a record's number is its last line
    with pytest.raises(DataError, match=r"sts\.csv:4: not a readable CSV record"):
        next(rows)


def test_deeply_nested_json_is_a_bad_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"\n")
    ((where, row),) = list(iter_jsonl(path))
    assert isinstance(row, BadLine) and "nested too deeply" in row.problem and where.endswith("c.jsonl:1")
