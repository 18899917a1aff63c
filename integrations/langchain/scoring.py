"""The pair scorers of :mod:`integrations.scoring`, under the name the LangChain adapters have always used."""

from __future__ import annotations

from integrations.scoring import BiEncoderScorer, PairScorer, is_pair_scorer, scores_as_list

__all__ = ["BiEncoderScorer", "PairScorer", "is_pair_scorer", "scores_as_list"]
