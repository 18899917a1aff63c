"""BM25 sparse vectors for hybrid search, computed here and scored by the vector store; and
:class:`BM25Index`, which scores them over a corpus in memory the way the store does (``finetune``
compares retrieval stacks with it, where no store is at hand).

A document's vector holds, for each of its terms, the BM25 term-frequency part
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avg_doc_length))``; a query's vector holds 1.0
per distinct term. The store supplies the IDF part (Qdrant: a sparse vector with
``modifier=IDF``), so the dot product of the two is the BM25 score over the whole collection, with
no corpus statistics to keep here. Term ids are CRC-32 hashes of the terms: stable across runs,
machines and versions, with no vocabulary file.

The tokenizer: Unicode NFKC, case-folded, runs of letters and digits, English stop words removed,
plurals reduced by Harman's S-stemmer (``studies`` -> ``study``, ``cells`` -> ``cell``).
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sbert_plugins.sparse.rows import SparseVector

_TOKEN = re.compile(r"[^\W_]+")

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def s_stem(word: str) -> str:
    """Harman's S-stemmer: ``-ies`` -> ``-y``, ``-es`` -> ``-e``, ``-s`` -> ``""`` with its exceptions."""
    if len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if not word.endswith(("us", "ss")):
        return word[:-1]
    return word


class BM25Config(BaseModel):
    """BM25 parameters and tokenizer switches (stored with nothing: change them only with ``recreate``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k1: float = Field(default=1.2, ge=0.0, description="term-frequency saturation")
    b: float = Field(default=0.75, ge=0.0, le=1.0, description="document-length normalisation")
    avg_doc_length: float = Field(default=128.0, gt=0.0, description="expected tokens per document")
    stopwords: bool = Field(default=True, description="drop English stop words")
    stem: bool = Field(default=True, description="reduce plurals (S-stemmer)")


def term_id(term: str) -> int:
    """The stable id of a term: its CRC-32 (an unsigned 32-bit integer, what Qdrant indexes)."""
    return zlib.crc32(term.encode("utf-8"))


class BM25Encoder:
    """Tokenizes texts and turns them into BM25 sparse vectors (document side and query side).

    Args:
        config: BM25 parameters; the default suits passages of about 100 to 200 words.
    """

    def __init__(self, config: BM25Config | None = None) -> None:
        self.config = config or BM25Config()

    def tokenize(self, text: str) -> list[str]:
        """The terms of ``text``, in order, repeated as often as they occur."""
        terms = _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())
        if self.config.stopwords:
            terms = [t for t in terms if t not in STOPWORDS]
        if self.config.stem:
            terms = [s_stem(t) for t in terms]
        return terms

    def encode_document(self, text: str) -> SparseVector:
        """Term-frequency weights of a document (the IDF part is applied by the store)."""
        terms = self.tokenize(text)
        counts = Counter(term_id(t) for t in terms)
        k1, b = self.config.k1, self.config.b
        norm = k1 * (1.0 - b + b * len(terms) / self.config.avg_doc_length)
        indices = tuple(sorted(counts))
        return SparseVector(indices, tuple(counts[i] * (k1 + 1.0) / (counts[i] + norm) for i in indices))

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """:meth:`encode_document` for each text."""
        return [self.encode_document(t) for t in texts]

    def encode_query(self, text: str) -> SparseVector:
        """1.0 for each distinct query term (BM25 counts a repeated query term once)."""
        indices = tuple(sorted({term_id(t) for t in self.tokenize(text)}))
        return SparseVector(indices, (1.0,) * len(indices))


def bm25_idf(document_frequency: int, documents: int) -> float:
    """The IDF part of BM25 as Qdrant's ``Modifier.IDF`` applies it: ``ln((N - df + 0.5) / (df + 0.5) + 1)``
    for a term in ``document_frequency`` of ``documents`` documents."""
    return math.log((documents - document_frequency + 0.5) / (document_frequency + 0.5) + 1.0)


class BM25Index:
    """A corpus's BM25 vectors held in memory and scored like a Qdrant sparse vector with the IDF modifier:
    the score of a document is the sum, over the distinct query terms it contains, of the term's
    :func:`bm25_idf` times the document's term-frequency weight (:meth:`BM25Encoder.encode_document`).

    Args:
        texts: the corpus, one text per document (as it would be ingested).
        config: BM25 parameters (those of the collection it stands for).
    """

    def __init__(self, texts: Sequence[str], config: BM25Config | None = None) -> None:
        self.encoder = BM25Encoder(config)
        self.size = len(texts)
        postings: dict[int, tuple[list[int], list[float]]] = {}
        for row, vector in enumerate(self.encoder.encode_documents(texts)):
            for term, weight in zip(vector.indices, vector.values, strict=True):
                rows, weights = postings.setdefault(term, ([], []))
                rows.append(row)
                weights.append(weight)
        self._postings = {
            term: (np.asarray(rows, dtype=np.int64), np.asarray(weights, dtype=np.float64))
            for term, (rows, weights) in postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        """BM25 scores of every document for ``query``, float64, shape ``(len(texts),)`` (0 where no term
        matches)."""
        scores = np.zeros(self.size, dtype=np.float64)
        for term in self.encoder.encode_query(query).indices:
            found = self._postings.get(term)
            if found is not None:
                rows, weights = found
                scores[rows] += bm25_idf(len(rows), self.size) * weights
        return scores
