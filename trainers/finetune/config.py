"""FinetuneConfig: every setting of a ``finetune`` run, validated when built and recorded with the model."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sbert_plugins.errors import ConfigError
from trainers.config import TrainingConfig


class FinetuneConfig(BaseModel):
    """The settings of :func:`trainers.finetune.finetune` (pydantic: unknown keys and bad values raise
    :class:`ConfigError` at construction).

    Args:
        base: the model to start from (a folder or name; ``None``: the packaged all-MiniLM-L6-v2).
        output: the folder for the chosen model (sentence-transformers format), its ``README.md`` model
            card and ``metrics.json``. Resume state lives in ``output/.finetune/``.
        epochs, batch_size, learning_rate, warmup_ratio: bi-encoder training (MultipleNegativesRankingLoss
            with the no-duplicates sampler; larger batches give more in-batch negatives).
        cached_above: batches larger than this use CachedMultipleNegativesRankingLoss (the same loss,
            computed in mini-batches of ``cached_above`` texts, so memory stays flat as the batch grows).
        hard_negatives: mined negatives per pair (0: in-batch negatives only). Negatives given in the pairs
            file come first.
        skip_top: when mining, the base model's first ``skip_top`` non-positive documents are skipped: the
            very top of a ranking is where unlabelled relevant documents (false negatives) hide.
        mining_depth: candidates are taken from the first ``mining_depth`` ranks only.
        negative_margin: a candidate is kept only when it scores at least this much below the positive
            (cosine), for the same reason as ``skip_top``.
        dev_ratio / dev_size: share (or number, which wins) of distinct queries held out for evaluation.
        seed: seeds the dev split, random negatives and training.
        checkpoint_steps: write a training checkpoint every this many steps (``--resume`` restarts there).
        rerank_top_k: how many of the bi-encoder's candidates the re-ranker re-orders on the validation and
            dev queries: the fusion weight is tuned over this many, and recorded with it.
        reranker_output: also train a cross-encoder re-ranker (base weights, fresh head) into this folder,
            with MultipleNegativesRankingLoss (cross-encoder form) on the training pairs and mined negatives;
            the tuned fusion weight is saved there too (``fusion.json``, see
            :mod:`sbert_plugins.cross_encoder.fusion_record`).
        reranker_epochs, reranker_min_steps, reranker_batch_size, reranker_lr, reranker_max_length: its
            training; a fresh head needs a few hundred steps before it separates positives from negatives,
            so small data sets are repeated up to ``reranker_min_steps``. ``reranker_max_length`` counts the
            query and document together: a re-ranker that reads less of a document than the bi-encoder
            (256 tokens for all-MiniLM-L6-v2) has little to add. On SciFact, 160 tokens cut 97% of the
            (claim, abstract) pairs short and the mix stayed below the fine-tuned bi-encoder; with 256 it
            beat it on two dev splits (0.6929 vs 0.6794, 0.7012 vs 0.6761 nDCG@10), at about 2.5 times
            the training time.
        reranker_random_negatives: documents of other rows in the batch scored as extra negatives of each
            row (besides its mined ones): they teach the fresh head what plainly irrelevant looks like.
        reranker_pseudo_queries: also train the re-ranker on this many (title, text) pairs of corpus documents
            that have a title (a seeded sample, leaving out documents relevant to dev or validation queries),
            with negatives mined for the title like those of the queries. A fresh head needs far more pairs
            than a few hundred queries give: on SciFact, 3,000 titles raised the re-ranker alone from 0.41 to
            0.61 nDCG@10 (``examples/train_reranker.py``).
        reranker_first_stage_scale: train the re-ranker as a correction of the kept bi-encoder (the one whose
            candidates it re-orders): each candidate's score in the loss gains this times that model's cosine
            of the pair. ``None`` (default): train it alone. A correction of the base all-MiniLM-L6-v2 raised
            SciFact dev nDCG@10 in the mix (``examples/train_reranker.py``), but one of a fine-tuned model
            learns little from the queries that model was trained on: after this fine-tune the mix did no
            better than with a re-ranker trained alone.
        reranker_validation_ratio: share of the training queries kept from every model (seeded) to choose the
            weight of the re-ranker's score in a mix with the bi-encoder's and the retrieval stack; dev reports
            the re-ranker alone, the mix and every stack.
        choose_stack: compare the retrieval stacks (dense, BM25, dense + BM25, with ``sparse_base`` also learned
            sparse and dense + learned sparse, each also followed by the re-ranker when there is one) on the
            validation queries and record the best in ``stack.json`` beside the model
            (:mod:`sbert_plugins.stack_record`). Always on with ``reranker_output`` or ``sparse_base``.
        sparse_base: also fine-tune a learned sparse model (:mod:`trainers.finetune.sparse`): a SparseEncoder
            folder as it is, or a transformer folder (e.g. all-MiniLM-L6-v2) made into inference-free SPLADE whose
            query weights start as the corpus's token IDF. The better of base and fine-tuned by dev nDCG@10 is
            kept in ``<output>/sparse``, and the stacks with a learned sparse side are compared too.
        sparse_epochs, sparse_learning_rate: its training (SpladeLoss around SparseMultipleNegativesRankingLoss,
            on the bi-encoder's rows and batch size).
        sparse_document_regularizer: SpladeLoss's FLOPS weight on documents (higher: fewer active dimensions,
            smaller index; queries of an inference-free model are not regularised).
        sparse_pseudo_queries: also train the sparse model on this many (title, text) pairs of titled corpus
            documents (a seeded sample leaving out documents relevant to dev or validation queries, with
            negatives mined for the title by the base bi-encoder).
        sparse_init_active_dims: when ``sparse_base`` has no masked-LM head, the head built for it starts with
            about this many active tokens per document (:func:`trainers.finetune.sparse.init_fresh_head`).
        max_seq_length: truncate texts for the bi-encoder to this many tokens (``None``: the model's).
        precision: training arithmetic of both models: ``fp32``, or ``bf16`` autocast (on SciFact with 2
            CPU cores with AMX the training phase took 331 s instead of 426 s). Evaluation runs in fp32.
        eval_batch_size: texts per forward pass when encoding the corpus.
        show_progress: progress bars for the long steps.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    base: str | None = None
    output: str
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=2)
    learning_rate: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    cached_above: int = Field(64, ge=1)
    hard_negatives: int = Field(1, ge=0)
    skip_top: int = Field(3, ge=0)
    mining_depth: int = Field(50, ge=1)
    negative_margin: float = Field(0.05, ge=0)
    dev_ratio: float = Field(0.2, gt=0, lt=1)
    dev_size: int | None = Field(None, ge=1)
    seed: int = 42
    checkpoint_steps: int = Field(50, ge=1)
    rerank_top_k: int = Field(30, ge=1)
    reranker_output: str | None = None
    reranker_epochs: int = Field(1, ge=1)
    reranker_min_steps: int = Field(300, ge=1)
    reranker_batch_size: int = Field(16, ge=1)
    reranker_lr: float = Field(5e-5, gt=0)
    reranker_max_length: int = Field(256, ge=8)
    reranker_random_negatives: int = Field(1, ge=1)
    reranker_pseudo_queries: int = Field(0, ge=0)
    reranker_first_stage_scale: float | None = Field(None, gt=0)
    reranker_validation_ratio: float = Field(0.1, gt=0, lt=1)
    choose_stack: bool = False
    sparse_base: str | None = None
    sparse_epochs: int = Field(1, ge=1)
    sparse_learning_rate: float = Field(2e-5, gt=0)
    sparse_document_regularizer: float = Field(3e-4, ge=0)
    sparse_pseudo_queries: int = Field(0, ge=0)
    sparse_init_active_dims: int = Field(256, ge=1)
    max_seq_length: int | None = Field(None, ge=8)
    precision: Literal["fp32", "bf16"] = "fp32"
    eval_batch_size: int = Field(32, ge=1)
    show_progress: bool = True

    def __init__(self, **settings: Any) -> None:
        try:
            super().__init__(**settings)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid finetune config: {problems}") from exc

    @property
    def compares_stacks(self) -> bool:
        """Whether the run keeps validation queries and chooses a retrieval stack on them."""
        return self.choose_stack or self.reranker_output is not None or self.sparse_base is not None

    @model_validator(mode="after")
    def _check(self) -> FinetuneConfig:
        if not self.output.strip():
            raise ValueError("output must not be empty")
        if self.mining_depth <= self.skip_top and self.hard_negatives:
            raise ValueError(f"mining_depth ({self.mining_depth}) must exceed skip_top ({self.skip_top})")
        return self

    def ranking_training(
        self, output_dir: str, *, epochs: int, learning_rate: float, router_mapping: dict[str, str]
    ) -> TrainingConfig:
        """The Trainer settings of a retrieval model trained on (query, positive, negatives) rows (the bi-encoder
        and the sparse model): no-duplicates batches of ``batch_size``, this run's warm-up, precision, seed and
        checkpoints, at the given epochs and learning rate."""
        return TrainingConfig(
            output_dir=output_dir,
            epochs=epochs,
            batch_size=self.batch_size,
            learning_rate=learning_rate,
            warmup_ratio=self.warmup_ratio,
            batch_sampler="no_duplicates",
            precision=self.precision,
            seed=self.seed,
            save_steps=self.checkpoint_steps,
            save_total_limit=1,
            show_progress=self.show_progress,
            router_mapping=router_mapping,
        )

    def fingerprint(self) -> str:
        """A hash of the settings that decide the results (not where they go or how they are shown)."""
        decisive = self.model_dump(exclude={"output", "reranker_output", "show_progress", "eval_batch_size"})
        decisive["reranker"] = self.reranker_output is not None
        if not decisive["reranker"]:  # runs recorded before the setting existed still resume
            del decisive["reranker_pseudo_queries"]
            if not decisive["choose_stack"] and decisive["sparse_base"] is None:
                del decisive["reranker_validation_ratio"]
        if not decisive["reranker"] or decisive["reranker_first_stage_scale"] is None:  # likewise
            del decisive["reranker_first_stage_scale"]
        if not decisive["choose_stack"]:  # likewise
            del decisive["choose_stack"]
        if decisive["sparse_base"] is None:  # likewise
            for name in [key for key in decisive if key.startswith("sparse_")]:
                del decisive[name]
        if decisive["precision"] == "fp32":  # runs recorded before the setting existed trained in fp32
            del decisive["precision"]
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]
