"""Fine-tune a retrieval model on your own (query, passage) pairs, end to end.

``finetune(pairs, FinetuneConfig(output="out/model"))`` validates the pairs (file:line errors), holds out
a seeded dev split of queries, evaluates the base model, mines hard negatives with it, trains with
MultipleNegativesRankingLoss, evaluates again and keeps the better model; optionally it trains a
cross-encoder re-ranker too. Every phase is recorded, so an interrupted run resumes (``resume=True``).
The command line is ``sbert-plugins finetune``.
"""

from __future__ import annotations

from trainers.finetune.config import FinetuneConfig
from trainers.finetune.mining import mine_hard_negatives
from trainers.finetune.pairs import RetrievalData, read_pairs
from trainers.finetune.run import finetune
from trainers.finetune.split import split_queries

__all__ = ["FinetuneConfig", "RetrievalData", "finetune", "mine_hard_negatives", "read_pairs", "split_queries"]
