"""The pure document functions: input forms, validation, point ids, content hashes, corpus reading."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest

from integrations._ingest import (
    DOC_ID_KEY,
    HASH_KEY,
    ID_NAMESPACE,
    IngestDocument,
    Rejection,
    Summary,
    content_hash,
    iter_inputs,
    make_document,
    point_id,
    read_corpus,
)
from integrations.chroma import flat_metadata_problem
from sbert_plugins.errors import DataError


class FakeLangChainDocument:
    """The two attributes a LangChain Document has that the ingestors read (plus its optional id)."""

    def __init__(self, page_content: object, metadata: dict, id: str | None = None) -> None:
        self.page_content, self.metadata, self.id = page_content, metadata, id


def test_point_id_is_uuid5_of_the_id_and_stable() -> None:
    assert point_id("a1", "any text") == str(uuid.uuid5(ID_NAMESPACE, "id:a1"))
    assert point_id("a1", "other text") == point_id("a1", "any text")
    assert point_id(None, "hello") == str(uuid.uuid5(ID_NAMESPACE, "text:hello"))
    assert point_id(None, "hello") != point_id("hello", "hello")


def test_ids_and_hashes_are_pinned() -> None:
    # A change here would re-key (or re-encode) every collection already written: keep them fixed.
    assert point_id("doc-1", "") == "741e010d-e443-55eb-aee5-ac36ee9662e6"
    assert point_id(None, "hello") == "99ec8078-a536-51c0-9444-67d190ad4cf1"
    assert content_hash("text", {"a": 1}) == "0ec7df993e9ccc549f9a96e5d282170f"


def test_content_hash_covers_text_and_metadata_not_key_order() -> None:
    base = content_hash("text", {"a": 1, "b": [1, 2]})
    assert base == content_hash("text", {"b": [1, 2], "a": 1})
    assert base != content_hash("text!", {"a": 1, "b": [1, 2]})
    assert base != content_hash("text", {"a": 2, "b": [1, 2]})
    assert len(base) == 32
    assert base != content_hash("text", {"a": 1, "b": [1, 2]}, salt="another model")


def test_dict_form_with_id_text_metadata() -> None:
    doc = make_document({"id": 7, "text": "hello world", "metadata": {"source": "x"}}, "index 0")
    assert isinstance(doc, IngestDocument)
    assert (doc.doc_id, doc.text, doc.metadata) == ("7", "hello world", {"source": "x"})
    assert doc.point_id == point_id("7", "hello world")
    assert doc.content_hash == content_hash("hello world", {"source": "x"})


def test_beir_form_title_prepended_other_keys_to_metadata() -> None:
    row = {"_id": "d1", "title": "A Title", "text": "the body", "metadata": {"year": 2020}, "url": "u"}
    doc = make_document(row, "c.jsonl:1")
    assert isinstance(doc, IngestDocument)
    assert doc.doc_id == "d1"
    assert doc.text == "A Title the body"
    assert doc.metadata == {"year": 2020, "url": "u", "title": "A Title"}


def test_title_only_document_is_kept_empty_title_ignored() -> None:
    doc = make_document({"_id": "t", "title": "Only a title", "text": ""}, "x")
    assert isinstance(doc, IngestDocument) and doc.text == "Only a title"
    doc = make_document({"_id": "t", "title": "", "text": "body"}, "x")
    assert isinstance(doc, IngestDocument) and doc.text == "body" and "title" not in doc.metadata


def test_langchain_document_and_string_forms() -> None:
    doc = make_document(FakeLangChainDocument("page", {"k": "v"}, id="lc-1"), "index 3")
    assert isinstance(doc, IngestDocument) and (doc.doc_id, doc.text, doc.metadata) == ("lc-1", "page", {"k": "v"})
    no_id = make_document(FakeLangChainDocument("page", {}), "index 4")
    assert isinstance(no_id, IngestDocument) and no_id.doc_id is None and no_id.point_id == point_id(None, "page")
    plain = make_document("just text", "index 5")
    assert isinstance(plain, IngestDocument) and plain.metadata == {} and plain.doc_id is None


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"id": "e", "text": ""}, "text is empty"),
        ({"id": "e", "text": "   \n"}, "text is empty"),
        ({"id": "e", "text": 12}, "text must be a string, found int"),
        ({"id": "e"}, "text must be a string, found NoneType"),
        ({"id": 1.5, "text": "x"}, "id must be a string or an integer"),
        ({"id": "e", "text": "x", "metadata": {"v": math.nan}}, "cannot be stored"),
        ({"id": "e", "text": "x", "metadata": {"v": {1: "a"}}}, "keys must be strings"),
        ({"id": "e", "text": "x", "metadata": {"when": object()}}, "not JSON"),
        ({"id": "e", "text": "x", "metadata": {HASH_KEY: "forged"}}, "reserved"),
        ({"id": "e", "text": "x", "metadata": "not a dict"}, "'metadata' must be an object"),
        (FakeLangChainDocument(None, {}, id="e"), "text must be a string"),
        (3.14, "unsupported document type float"),
    ],
)
def test_bad_documents_are_rejections_naming_id_and_reason(item: object, reason: str) -> None:
    rejection = make_document(item, "index 9")
    assert isinstance(rejection, Rejection)
    assert reason in rejection.reason
    assert rejection.where == "index 9"
    if isinstance(item, dict) and item.get("id") == "e":
        assert rejection.doc_id == "e" and "'e'" in str(rejection)


def test_target_metadata_rule_applies_chroma_flat_values() -> None:
    nested = make_document({"id": "n", "text": "x", "metadata": {"a": {"b": 1}}}, "index 0", flat_metadata_problem)
    assert isinstance(nested, Rejection) and "'a'" in nested.reason and "flatten" in nested.reason
    for bad in (None, [], [1, "a"], [{"x": 1}]):
        result = make_document({"id": "n", "text": "x", "metadata": {"a": bad}}, "i", flat_metadata_problem)
        assert isinstance(result, Rejection), bad
    good = {"s": "x", "i": 1, "f": 0.5, "b": True, "l": ["a", "b"], "bl": [True]}
    assert isinstance(
        make_document({"id": "n", "text": "x", "metadata": good}, "i", flat_metadata_problem), IngestDocument
    )
    # Qdrant stores nested JSON: no target rule, the same document is valid.
    assert isinstance(make_document({"id": "n", "text": "x", "metadata": {"a": {"b": 1}}}, "i"), IngestDocument)


def test_read_corpus_streams_rows_and_reports_bad_lines(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"_id": "1", "text": "one"}),
        "{not json",
        "",
        json.dumps([1, 2]),
        json.dumps({"_id": "2", "text": "two"}),
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = list(read_corpus(corpus))
    assert [where for _, where in rows] == [f"{corpus}:1", f"{corpus}:2", f"{corpus}:4", f"{corpus}:5"]
    assert rows[0][0] == {"_id": "1", "text": "one"}
    assert isinstance(rows[1][0], Rejection) and "invalid JSON" in rows[1][0].reason
    assert isinstance(rows[2][0], Rejection) and "expected a JSON object" in rows[2][0].reason
    with pytest.raises(DataError, match="no such file"):
        list(read_corpus(tmp_path / "missing.jsonl"))


def test_iter_inputs_is_lazy_and_labels_positions() -> None:
    pulled = []

    def generate():
        for i in range(10**9):  # far larger than memory if it were materialised
            pulled.append(i)
            yield f"text {i}"

    stream = iter_inputs(generate())
    assert [next(stream) for _ in range(3)] == [("text 0", "index 0"), ("text 1", "index 1"), ("text 2", "index 2")]
    assert len(pulled) == 3
    with pytest.raises(DataError, match="not a single dict"):
        list(iter_inputs({"id": 1, "text": "x"}))  # type: ignore[arg-type]


def test_summary_counts_rate_and_text() -> None:
    summary = Summary(
        "c", written=8, overwritten=2, skipped=1, rejected=(Rejection("x", "index 3", "text is empty"),), seconds=2.0
    )
    assert summary.processed == 10
    assert summary.docs_per_second == pytest.approx(5.0)
    text = str(summary)
    assert "8 written (2 overwritten)" in text and "1 skipped" in text and "1 rejected" in text
    assert "id 'x' (index 3): text is empty" in text
    assert Summary("c", 0, 0, 0).docs_per_second == 0.0
    assert "3 written documents were longer than the model's max_seq_length" in str(Summary("c", 3, 0, 0, truncated=3))


def test_reserved_keys_are_the_stored_ones() -> None:
    assert (DOC_ID_KEY, HASH_KEY) == ("_doc_id", "_content_hash")
