"""``finetune --sparse-base``: the learned sparse side of a finetune run (the same pipeline as the bi-encoder).

The base is a ``SparseEncoder`` folder as it is, or any other transformer folder turned into an inference-free
SPLADE model (:meth:`sbert_plugins.sparse.SparseEncoder.from_transformer` with ``inference_free=True``: queries
are weighted tokens, no transformer; documents go through the transformer and its masked-LM head). Its query
weights start as the corpus's IDF of each token (the BM25 rule, :func:`sbert_plugins.bm25.bm25_idf`). A
checkpoint without a masked-LM head (a sentence-embedding model such as all-MiniLM-L6-v2) gets a head whose
decoder is the tied word embeddings; a freshly drawn transform in front of it scores noise (dev nDCG@10 near
0), so :func:`init_fresh_head` makes the transform the identity (each position's hidden state is scored
against every word embedding) and sets the output bias so that documents start with about
``sparse_init_active_dims`` active tokens. Training uses SpladeLoss around
SparseMultipleNegativesRankingLoss on the bi-encoder's rows (pairs with the base bi-encoder's mined negatives,
plus title pseudo-queries); the better of base and fine-tuned by dev nDCG@10 is kept in ``<output>/sparse``.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from sbert_plugins.bm25 import bm25_idf
from sbert_plugins.evaluation.metrics import retrieval_metrics
from sbert_plugins.loading import MODEL_CONFIG_FILE
from sbert_plugins.sparse import SparseEncoder
from sbert_plugins.sparse.mlm_transformer import MLMTransformer
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from trainers.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from trainers.finetune.config import FinetuneConfig
from trainers.finetune.evaluation import CUTOFFS
from trainers.finetune.mining import query_document_mapping
from trainers.finetune.pairs import RetrievalData
from trainers.losses import SparseMultipleNegativesRankingLoss, SpladeLoss
from trainers.state import Callback
from trainers.trainer import Trainer

logger = logging.getLogger(__name__)

SPARSE_DIR = "sparse"  # the kept sparse model, inside the output folder


def is_sparse_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a sentence-transformers ``SparseEncoder`` folder (its config says so)."""
    config = Path(path) / MODEL_CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("model_type") == "SparseEncoder")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def load_sparse_base(config: FinetuneConfig, corpus: Sequence[str]) -> SparseEncoder:
    """The sparse model a run starts from: ``config.sparse_base`` as it is when it is a SparseEncoder folder,
    else an inference-free SPLADE built from it (seeded: the masked-LM head's fresh parts are the same in every
    phase) whose query weights are the IDF of each token over ``corpus``."""
    if config.sparse_base is None:
        raise ValueError("load_sparse_base needs config.sparse_base")
    if is_sparse_folder(config.sparse_base):
        model = SparseEncoder(config.sparse_base)
    else:
        torch.manual_seed(config.seed)
        model = SparseEncoder.from_transformer(config.sparse_base, inference_free=True)
        static = next(m for m in model.modules() if isinstance(m, SparseStaticEmbedding))
        with torch.no_grad():
            static.weight.copy_(token_idf(static, corpus))
        if config.max_seq_length is not None:
            model.max_seq_length = config.max_seq_length
        if not has_mlm_head(config.sparse_base):
            init_fresh_head(model, corpus, active_dims=config.sparse_init_active_dims, seed=config.seed)
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    return model


def has_mlm_head(folder: str | Path) -> bool:
    """Whether the checkpoint in ``folder`` holds masked-LM head weights (``cls.predictions.*`` in its
    safetensors files; a folder without them, or with pickled weights only, counts as headless)."""
    from safetensors import safe_open

    for path in Path(folder).glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as weights:
            if any("predictions" in key or "lm_head" in key for key in weights.keys()):  # noqa: SIM118
                return True
    return False


def init_fresh_head(model: SparseEncoder, corpus: Sequence[str], *, active_dims: int, seed: int) -> None:
    """Make a freshly built BERT masked-LM head start from the encoder's own representation: the transform's
    dense layer becomes the identity, and the output bias a constant chosen on a seeded sample of ``corpus``
    (64 texts) so that a document's max-pooled logits exceed it on about ``active_dims`` tokens. Heads of other
    shapes are left as built (with a warning)."""
    mlm = next(m for m in model.modules() if isinstance(m, MLMTransformer))
    head: Any = next((m for m in mlm.modules() if hasattr(m, "transform") and hasattr(m, "decoder")), None)
    dense = getattr(getattr(head, "transform", None), "dense", None)
    if head is None or not isinstance(dense, torch.nn.Linear) or dense.in_features != dense.out_features:
        logger.warning("the masked-LM head of %s is not BERT's: left as built", type(mlm.auto_model).__name__)
        return
    sample = random.Random(seed).sample(list(corpus), min(64, len(corpus)))
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.in_features))
        dense.bias.zero_()
        head.bias.zero_()
        features = mlm.tokenize(sample)
        logits = mlm(features)["token_embeddings"].float()
        masked = logits.masked_fill(features["attention_mask"].unsqueeze(-1) == 0, float("-inf"))
        pooled = masked.max(dim=1).values.flatten()
        chosen = pooled[torch.randperm(len(pooled), generator=torch.Generator().manual_seed(seed))[:1_000_000]]
        threshold = torch.quantile(chosen, 1.0 - active_dims / logits.shape[-1])
        head.bias.fill_(-float(threshold))
    logger.info(
        "fresh masked-LM head: identity transform, output bias %.3f (~%d active tokens)", -threshold, active_dims
    )


def token_idf(static: SparseStaticEmbedding, corpus: Sequence[str]) -> torch.Tensor:
    """The IDF of every vocabulary token over ``corpus`` (tokenized as the document side sees it, counted once
    per document), by the BM25 rule; a token in no document gets the largest value."""
    counts = torch.zeros_like(static.weight, dtype=torch.float64)
    for start in range(0, len(corpus), 256):
        for ids in static.token_ids(list(corpus[start : start + 256]), truncate=False):
            counts[sorted(set(ids))] += 1.0
    return torch.tensor([bm25_idf(int(df), len(corpus)) for df in counts.tolist()], dtype=torch.float32)


def evaluate_sparse(
    model: SparseEncoder,
    data: RetrievalData,
    dev_ids: Sequence[str],
    ranked_ids: Sequence[str],
    *,
    depth: int,
) -> dict[str, Any]:
    """Dev metrics of ``model`` retrieving from the whole corpus (plus the average active dimensions of queries
    and documents) and its rankings of ``ranked_ids`` (document ids, best first, ``depth`` of them)."""
    corpus_ids = list(data.corpus)
    documents = model.encode_documents([data.corpus[d] for d in corpus_ids]).coalesce()
    query_ids = list(dict.fromkeys([*dev_ids, *ranked_ids]))
    queries = model.encode_queries([data.queries[q] for q in query_ids]).coalesce()
    scores = model.similarity(queries, documents).float()
    top = torch.topk(scores, k=min(depth, scores.shape[1]), dim=1)
    rankings = {
        q: [corpus_ids[i] for i, s in zip(row, values, strict=True) if s > 0]
        for q, row, values in zip(query_ids, top.indices.tolist(), top.values.tolist(), strict=True)
    }
    metrics = retrieval_metrics([rankings[q] for q in dev_ids], [data.relevant[q] for q in dev_ids], CUTOFFS)
    metrics["query_active_dims"] = queries._nnz() / max(len(query_ids), 1)
    metrics["corpus_active_dims"] = documents._nnz() / max(len(corpus_ids), 1)
    return {"metrics": metrics, "rankings": {q: rankings[q] for q in ranked_ids}}


def train_sparse(
    model: SparseEncoder,
    rows: list[dict[str, str]],
    config: FinetuneConfig,
    work: Path,
    callbacks: Sequence[Callback],
) -> dict[str, float]:
    """Train ``model`` on ``rows`` (``query``, ``positive``, ``negative_*`` columns) with SpladeLoss around
    SparseMultipleNegativesRankingLoss (queries through the query route, the rest through the document route);
    the trained model is saved in ``work``."""
    settings = config.ranking_training(
        str(work),
        epochs=config.sparse_epochs,
        learning_rate=config.sparse_learning_rate,
        router_mapping=query_document_mapping(model, list(rows[0])),
    )
    loss = SpladeLoss(
        model,
        SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=config.sparse_document_regularizer,
        query_regularizer_weight=None,
    )
    trainer = Trainer(model, loss=loss, train_data=rows, config=settings, callbacks=callbacks)
    resume = "latest" if list_checkpoints(work / CHECKPOINTS_DIR) else None
    metrics = trainer.train(resume_from=resume)
    shutil.rmtree(work / CHECKPOINTS_DIR, ignore_errors=True)
    return {**metrics, "rows": float(len(rows))}


def sparse_report(
    base: Mapping[str, Any], tuned: Mapping[str, Any], kept: str, training: Mapping[str, float]
) -> dict[str, Any]:
    """The ``sparse`` part of ``metrics.json``: dev metrics of both models, which was kept, the training."""
    return {
        "base": dict(base["metrics"]),
        "fine_tuned": dict(tuned["metrics"]),
        "kept": kept,
        "training": dict(training),
    }
