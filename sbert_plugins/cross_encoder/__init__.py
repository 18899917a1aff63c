"""Cross-encoders: score and re-rank text pairs with a transformer that reads both texts at once.

::

    from sbert_plugins.cross_encoder import CrossEncoder
    model = CrossEncoder("path/to/reranker")
    scores = model.predict([("How old is the sun?", "The sun is 4.6 billion years old."), ...])
    best = model.rank("How old is the sun?", documents, top_k=3, return_documents=True)

When the re-ranker alone is no better than the first stage, :func:`tune_fusion_weight` picks a weight on
validation queries and :func:`fuse_scores` mixes both stages' scores with it (the rule:
:mod:`sbert_plugins.cross_encoder.fusion`); :func:`write_fusion_record` / :func:`read_fusion_record` keep
the weight in the re-ranker's folder with the bi-encoder it was tuned with.
"""

from __future__ import annotations

from sbert_plugins.cross_encoder._files import ACTIVATIONS, Activation
from sbert_plugins.cross_encoder.fusion import (
    FUSION_GRID,
    FusionFit,
    first_stage_scores,
    fuse_scores,
    fused_ndcg,
    fused_order,
    reranker_scores,
    tune_fusion_weight,
)
from sbert_plugins.cross_encoder.fusion_record import (
    FUSION_FILE,
    FusionRecord,
    check_fusion_pairing,
    read_fusion_record,
    write_fusion_record,
)
from sbert_plugins.cross_encoder.model import CrossEncoder

__all__ = [
    "ACTIVATIONS",
    "FUSION_FILE",
    "FUSION_GRID",
    "Activation",
    "CrossEncoder",
    "FusionFit",
    "FusionRecord",
    "check_fusion_pairing",
    "first_stage_scores",
    "fuse_scores",
    "fused_ndcg",
    "fused_order",
    "read_fusion_record",
    "reranker_scores",
    "tune_fusion_weight",
    "write_fusion_record",
]
