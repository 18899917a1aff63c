from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sbert_plugins.errors import DataError
from trainers import load_dataset, load_datasets


def test_list_rows_keep_column_order_and_label_type() -> None:
    rows = [{"anchor": "a", "positive": "b", "label": 1}, {"anchor": "c", "positive": "d", "label": 0}]
    dataset = load_dataset(rows)
    assert dataset.columns == ("anchor", "positive")
    assert dataset.texts == (["a", "c"], ["b", "d"])
    assert dataset.labels is not None and dataset.labels.dtype == torch.long
    assert dataset.batch_texts([1]) == [["c"], ["d"]]
    assert dataset.batch_labels([1, 0]).tolist() == [0, 1]


def test_mixed_int_and_float_labels_become_float_and_vectors_become_2d() -> None:
    floats = load_dataset([{"s1": "a", "s2": "b", "label": 1}, {"s1": "c", "s2": "d", "label": 0.5}])
    assert floats.labels is not None and floats.labels.dtype == torch.float32
    vectors = load_dataset([{"text": "a", "label": [0.1, 0.2]}, {"text": "b", "label": [0.3, 0.4]}])
    assert vectors.labels is not None and vectors.labels.shape == (2, 2)


def test_rows_without_label_are_unlabelled_and_columns_can_be_chosen() -> None:
    dataset = load_dataset([{"q": "x", "d": "y", "extra": "z"}], columns=["d", "q"])
    assert dataset.labels is None
    assert dataset.texts == (["y"], ["x"])


def test_jsonl_csv_tsv_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text(
        '{"sentence1": "a", "sentence2": "b", "label": 0.5}\n\n{"sentence1": "c", "sentence2": "d", "label": 1}\n',
        encoding="utf-8",
    )
    (tmp_path / "t.csv").write_text('sentence1,sentence2,label\n"a, with comma",b,0.5\nc,d,1\n', encoding="utf-8")
    (tmp_path / "t.tsv").write_text('sentence1\tsentence2\tlabel\na "quoted"\tb\t0.5\nc\td\t1\n', encoding="utf-8")
    for name in ("t.jsonl", "t.csv", "t.tsv"):
        dataset = load_dataset(tmp_path / name)
        assert len(dataset) == 2
        assert dataset.labels is not None and dataset.labels.tolist() == [0.5, 1.0]
    assert load_dataset(tmp_path / "t.csv").texts[0][0] == "a, with comma"
    assert load_dataset(tmp_path / "t.tsv").texts[0][0] == 'a "quoted"'


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"sentence1": "c", "label": 0.1}', "missing column 'sentence2'"),
        ('{"sentence1": "c", "sentence2": 7, "label": 0.1}', "'sentence2' must be a string, found int"),
        ('{"sentence1": "c", "sentence2": "d", "label": "high"}', "must be a number"),
        ('{"sentence1": "c", "sentence2": "d", "label": NaN}', "finite"),
        ('{"sentence1": "c", "sentence2": "d", "label": [1, 2]}', "is a vector"),
        ('{"sentence1": "c", "sentence2": "d", "label": true}', "must be a number"),
        ('{"sentence1": "c", "sentence2": "d"}', "missing column 'label'"),
        ('{"sentence1": "c", "sentence2": "d", "other": "e", "label": 1}', "unexpected column"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "invalid JSON"),
    ],
)
def test_bad_jsonl_rows_name_file_line_and_problem(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "train.jsonl"
    good = json.dumps({"sentence1": "a", "sentence2": "b", "label": 0.5})
    path.write_text(f"{good}\n{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert f"{path}:3:" in str(info.value)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("content", "where", "problem"),
    [
        ("sentence1,sentence2,label\na,b,0.5\nc,d,nan\n", ":3:", "finite"),
        ("sentence1,sentence2,label\na,b,0.5\nc,d\n", ":3:", "missing column 'label'"),
        ("sentence1,sentence2,label\na,b,0.5\nc,d,\n", ":3:", "must be a number"),
        ("sentence1,sentence2,label\na,b,0.5,extra\n", ":2:", "4 fields"),
        ("sentence1,sentence1,label\na,b,0.5\n", ":1:", "header"),
    ],
)
def test_bad_csv_rows_name_file_line_and_problem(tmp_path: Path, content: str, where: str, problem: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert f"{path}{where}" in str(info.value)
    assert problem in str(info.value)


def test_bad_list_rows_name_dataset_and_index() -> None:
    rows = [{"s1": "a", "s2": "b"}, {"s1": "a", "s2": float("nan")}]
    with pytest.raises(DataError, match=r"pairs\[1\]: column 's2' must be a string, found float NaN"):
        load_datasets({"pairs": rows})


def test_missing_file_empty_data_and_unsupported_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(tmp_path / "data.parquet")
    with pytest.raises(DataError, match="no rows"):
        load_dataset([])
    with pytest.raises(DataError, match="empty dict"):
        load_datasets({})
