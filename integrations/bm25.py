"""BM25 sparse vectors for hybrid search: the rule lives in the core (:mod:`sbert_plugins.bm25`), where
``finetune`` scores BM25 stacks with it too; this module keeps the integrations' import path."""

from __future__ import annotations

from sbert_plugins.bm25 import STOPWORDS, BM25Config, BM25Encoder, SparseVector, s_stem, term_id

__all__ = ["STOPWORDS", "BM25Config", "BM25Encoder", "SparseVector", "s_stem", "term_id"]
