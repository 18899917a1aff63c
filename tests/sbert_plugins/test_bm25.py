"""BM25 sparse vectors: tokenizer, stemmer, term ids, document and query weights."""

from __future__ import annotations

import pydantic
import pytest

from sbert_plugins.bm25 import BM25Config, BM25Encoder, s_stem, term_id


def test_tokenizer_folds_case_and_unicode_drops_stopwords_and_punctuation() -> None:
    encoder = BM25Encoder()
    assert encoder.tokenize("The Cells of the BRAIN, and ﬁbers!") == ["cell", "brain", "fiber"]
    assert encoder.tokenize("IL-6 levels in 2020_data") == ["il", "6", "level", "2020", "data"]
    assert encoder.tokenize("") == []


def test_switches_keep_stopwords_and_plurals() -> None:
    encoder = BM25Encoder(BM25Config(stopwords=False, stem=False))
    assert encoder.tokenize("The cells") == ["the", "cells"]


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("studies", "study"),
        ("cells", "cell"),
        ("cases", "case"),
        ("glass", "glass"),
        ("virus", "virus"),
        ("goes", "goe"),  # the -es rule excludes -oes, so the -s rule applies
        ("bees", "bee"),
        ("is", "is"),
        ("gas", "gas"),
        ("aries", "ary"),
    ],
)
def test_s_stemmer(word: str, stem: str) -> None:
    assert s_stem(word) == stem


def test_term_ids_are_pinned_unsigned_32_bit() -> None:
    # CRC-32 values: a change would silently break every stored hybrid collection.
    assert term_id("cell") == 3414656994
    assert term_id("brain") == 3016132225
    assert term_id("cell") != term_id("cells")
    assert all(0 <= term_id(t) < 2**32 for t in ("a", "zebra", "ωμέγα", "12345"))


def test_document_weights_follow_bm25_term_frequency() -> None:
    config = BM25Config(k1=1.2, b=0.75, avg_doc_length=4.0)
    vector = BM25Encoder(config).encode_document("cell cell brain tissue")  # 4 terms: length == average
    weights = dict(zip(vector.indices, vector.values, strict=True))
    assert list(vector.indices) == sorted(vector.indices)
    assert weights[term_id("cell")] == pytest.approx(2 * 2.2 / (2 + 1.2))
    assert weights[term_id("brain")] == pytest.approx(1 * 2.2 / (1 + 1.2))


def test_longer_documents_weigh_a_term_less() -> None:
    encoder = BM25Encoder(BM25Config(avg_doc_length=5.0))
    short = encoder.encode_document("cell tissue")
    long = encoder.encode_document("cell tissue " + " ".join(f"word{i}" for i in range(20)))
    index = term_id("cell")
    assert (
        dict(zip(short.indices, short.values, strict=True))[index]
        > dict(zip(long.indices, long.values, strict=True))[index]
    )


def test_query_vector_counts_each_term_once() -> None:
    vector = BM25Encoder().encode_query("cells cell brain the")
    assert vector.indices == tuple(sorted({term_id("cell"), term_id("brain")}))
    assert vector.values == (1.0, 1.0)


def test_config_is_validated_and_round_trips() -> None:
    with pytest.raises(pydantic.ValidationError):
        BM25Config(b=1.5)
    with pytest.raises(pydantic.ValidationError):
        BM25Config(k=1.0)  # type: ignore[call-arg]
    config = BM25Config(k1=0.9, avg_doc_length=200)
    assert BM25Config.model_validate_json(config.model_dump_json()) == config
