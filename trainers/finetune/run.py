"""The finetune pipeline, phase by phase, each phase recorded so that an interrupted run resumes:

read + validate pairs → dev split of queries → evaluate the base model on the dev queries over the whole
corpus, and mine hard negatives for the training queries with it → train (MultipleNegativesRankingLoss,
no-duplicates batches, checkpoints) → evaluate the fine-tuned model → keep the better of the two →
optionally train and evaluate a cross-encoder re-ranker → with validation queries, compare the retrieval
stacks and record the best (``stack.json``) → write metrics.json and the model card.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ModelNotFoundError
from sbert_plugins.loading import packaged_default_path
from sbert_plugins.sparse import SparseEncoder
from sbert_plugins.stack_record import write_stack_record
from trainers.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from trainers.config import TrainingConfig
from trainers.finetune.card import write_outputs
from trainers.finetune.config import FinetuneConfig
from trainers.finetune.evaluation import (
    PRIMARY,
    RANK_DEPTH,
    Ranking,
    RerankedHeads,
    RetrievalRun,
    choose_fusion_weight,
    evaluate_bi_encoder,
    query_scores,
    rerank_metrics,
    score_heads,
    top_ranked,
)
from trainers.finetune.mining import bi_encoder_rows, mine_hard_negatives, query_document_mapping, title_rows
from trainers.finetune.pairs import RetrievalData, read_pairs
from trainers.finetune.sparse import (
    SPARSE_DIR,
    evaluate_sparse,
    load_sparse_base,
    sparse_report,
    train_sparse,
)
from trainers.finetune.split import split_queries
from trainers.finetune.stack_choice import compare_run_stacks, stack_record
from trainers.finetune.state import RunState
from trainers.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss
from trainers.losses.cross_encoder import MultipleNegativesRankingLoss as CrossEncoderMNRL
from trainers.state import Callback
from trainers.trainer import Trainer

logger = logging.getLogger(__name__)


def finetune(
    pairs: str | Path,
    config: FinetuneConfig,
    *,
    corpus: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Fine-tune ``config.base`` on retrieval pairs and keep the better of base and fine-tuned model.

    Args:
        pairs: a JSONL pairs file or a BEIR folder (see :func:`trainers.finetune.read_pairs`).
        config: the run's settings; the model goes to ``config.output``.
        corpus: a BEIR-style corpus JSONL for JSONL pairs (used for mining and evaluation).
        resume: continue an interrupted run in ``config.output`` (finished phases are skipped, training
            restarts from its latest checkpoint).
        overwrite: delete a previous run in ``config.output`` first.
        callbacks: passed to both trainers (called after each optimizer step; True stops training).

    Returns:
        the content of ``metrics.json``: ``base`` and ``fine_tuned`` dev metrics, with a re-ranker also
        ``reranked`` (the re-ranker alone), ``fused`` (the mix) and ``fusion_weight``; with validation queries
        (:attr:`FinetuneConfig.compares_stacks`) ``stacks`` (validation and dev metrics of every retrieval
        stack) and ``stack`` (the chosen one, recorded in ``stack.json``); ``kept`` (``"fine-tuned"`` or
        ``"base"``), data counts, settings and seconds per phase.

    Raises:
        DataError: invalid pairs (each problem with file and line), before any model is loaded.
        ConfigError: a non-empty output without ``resume``/``overwrite``, or a resume with other settings.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    data = read_pairs(pairs, corpus)
    output = Path(config.output)
    state = RunState(output, f"{config.fingerprint()}-{data.digest()}", resume=resume, overwrite=overwrite)
    state.timings["read_and_validate"] = round(time.perf_counter() - started, 2)
    state.cpu_timings["read_and_validate"] = round(time.process_time() - cpu_started, 2)
    logger.info(
        "pairs: %d (%d duplicates dropped), queries: %d, corpus: %d documents",
        data.pairs,
        data.duplicates,
        len(data.queries),
        len(data.corpus),
    )
    split = _phase(state, "split", lambda: _split(data, config))
    train_ids, dev_ids = split[:2]
    validation_ids = split[2] if len(split) > 2 else []  # runs recorded before the re-ranker's validation split
    ranked_ids = dev_ids + validation_ids
    base = _phase(state, "base_eval_and_mining", lambda: _base(data, config, train_ids, dev_ids, ranked_ids))
    logger.info("base model: %s", _headline(base["metrics"]))
    train_dir = state.work / "bi-encoder"
    training = _phase(state, "train", lambda: _train(data, config, train_ids, base["negatives"], train_dir, callbacks))
    tuned = _phase(state, "fine_tuned_eval", lambda: _evaluate_saved(data, config, dev_ids, ranked_ids, train_dir))
    logger.info("fine-tuned model: %s", _headline(tuned["metrics"]))
    kept = _phase(state, "keep_better", lambda: _keep_better(base, tuned, config, train_dir, state))
    reranked = reranker_training = None
    if config.reranker_output is not None:
        reranker_training = _phase(
            state,
            "reranker_train",
            lambda: _train_reranker(
                data,
                config,
                train_ids,
                base["negatives"],
                base.get("title_negatives", {}),
                output,
                state.work / "reranker",
                callbacks,
            ),
        )
        chosen = tuned if kept == "fine-tuned" else base
        reranked = _phase(
            state, "reranker_eval", lambda: _evaluate_reranker(data, config, validation_ids, dev_ids, chosen)
        )
        _write_fusion_record(config, output, reranked["fusion_weight"])
        logger.info("%s model + re-ranker: %s", kept, _headline(reranked["reranked"]))
        logger.info("%s model + mix (weight %.2f): %s", kept, reranked["fusion_weight"], _headline(reranked["fused"]))
    sparse = _sparse_phases(state, data, config, train_ids, dev_ids, ranked_ids, base, callbacks)
    stacks = record = None
    if config.compares_stacks:
        chosen_run = tuned if kept == "fine-tuned" else base
        stacks = _phase(
            state,
            "stacks",
            lambda: compare_run_stacks(
                data,
                config,
                validation_ids,
                dev_ids,
                chosen_run,
                reranked,
                load_kept=lambda: _load_encoder(str(output), config),
                sparse=sparse["rankings"] if sparse is not None else None,
            ),
        )
        record = stack_record(config, output, stacks)
        logger.info("chosen stack: %s", stacks["chosen"])
    reports: list[dict[str, Any]] = []

    def write_reports(folder: Path) -> None:
        reports.append(
            write_outputs(
                folder,
                config=config,
                data=data,
                split=(train_ids, dev_ids, validation_ids),
                base=base["metrics"],
                fine_tuned=tuned["metrics"],
                reranked=reranked,
                stacks=stacks,
                kept=kept,
                training=training,
                reranker_training=reranker_training,
                sparse=sparse["report"] if sparse is not None else None,
                timings=state.timings,
                cpu_timings=state.cpu_timings,
            )
        )
        if record is not None:
            write_stack_record(folder, record)

    state.publish(write_reports)
    state.finish()  # the previous run's files that this one did not write again go now
    for leftover in ("bi-encoder", "reranker", SPARSE_DIR):  # weights and checkpoints are in the outputs now
        shutil.rmtree(state.work / leftover, ignore_errors=True)
    return reports[0]


def _sparse_phases(
    state: RunState,
    data: RetrievalData,
    config: FinetuneConfig,
    train_ids: list[str],
    dev_ids: list[str],
    ranked_ids: list[str],
    base: dict[str, Any],
    callbacks: Sequence[Callback],
) -> dict[str, Any] | None:
    """With ``sparse_base``: evaluate the sparse base, train it on the bi-encoder's rows (and title pseudo-queries),
    evaluate again and publish the better in ``<output>/sparse`` (:mod:`trainers.finetune.sparse`). Returns its
    ``report`` for metrics.json and the kept model's ``rankings`` of the dev and validation queries."""
    if config.sparse_base is None:
        return None
    depth = max(RANK_DEPTH, config.rerank_top_k)
    texts = list(data.corpus.values())
    sparse_base = _phase(
        state,
        "sparse_base_eval",
        lambda: evaluate_sparse(load_sparse_base(config, texts), data, dev_ids, ranked_ids, depth=depth),
    )
    logger.info("sparse base: %s", _headline(sparse_base["metrics"]))
    work = state.work / SPARSE_DIR

    def train() -> dict[str, float]:
        rows = bi_encoder_rows(
            train_ids,
            data.queries,
            data.corpus,
            data.relevant,
            base["negatives"],
            num_negatives=config.hard_negatives,
            seed=config.seed + 3,
        )
        title_negatives = base.get("title_negatives", {})
        titles = list(title_negatives)[: config.sparse_pseudo_queries]
        rows += title_rows(titles, data.titled, title_negatives, num_negatives=config.hard_negatives)
        return train_sparse(load_sparse_base(config, texts), rows, config, work, callbacks)

    sparse_training = _phase(state, "sparse_train", train)

    def evaluate_trained() -> dict[str, Any]:
        model = SparseEncoder(str(work))
        if config.max_seq_length is not None:
            model.max_seq_length = config.max_seq_length
        return evaluate_sparse(model, data, dev_ids, ranked_ids, depth=depth)

    sparse_tuned = _phase(state, "sparse_fine_tuned_eval", evaluate_trained)
    logger.info("sparse fine-tuned: %s", _headline(sparse_tuned["metrics"]))

    def keep_better() -> str:
        better = sparse_tuned["metrics"][PRIMARY] > sparse_base["metrics"][PRIMARY]
        model = SparseEncoder(str(work)) if better else load_sparse_base(config, texts)
        state.publish(lambda folder: model.save(folder / SPARSE_DIR))
        return "fine-tuned" if better else "base"

    sparse_kept = _phase(state, "sparse_keep_better", keep_better)
    logger.info("kept the %s sparse model", sparse_kept)
    kept_run = sparse_tuned if sparse_kept == "fine-tuned" else sparse_base
    return {
        "report": sparse_report(sparse_base, sparse_tuned, sparse_kept, sparse_training),
        "rankings": kept_run["rankings"],
    }


def _phase(state: RunState, name: str, run: Any) -> Any:
    recorded = state.get(name)
    if recorded is not None:
        logger.info("phase %s: done in an earlier run, skipped", name)
        return recorded
    logger.info("phase %s ...", name)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run()
    state.done(name, result, time.perf_counter() - started, time.process_time() - cpu_started)
    logger.info("phase %s: %.1f s", name, state.timings[name])
    return result


def _headline(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in ("ndcg@10", "mrr@10", "recall@100"))


def _split(data: RetrievalData, config: FinetuneConfig) -> list[list[str]]:
    """[train, dev, validation] query ids. With a re-ranker, a seeded share of the training queries is kept
    from both models to choose the weight of the re-ranker's score in a mix with the bi-encoder's (queries
    neither model has seen, and not the dev queries that are reported)."""
    train_ids, dev_ids = split_queries(
        list(data.queries), dev_ratio=config.dev_ratio, dev_size=config.dev_size, seed=config.seed
    )
    validation_ids: list[str] = []
    if config.compares_stacks:
        train_ids, validation_ids = split_queries(
            train_ids, dev_ratio=config.reranker_validation_ratio, dev_size=None, seed=config.seed + 1
        )
    return [train_ids, dev_ids, validation_ids]


def _pseudo_query_documents(data: RetrievalData, config: FinetuneConfig, held_out: list[str]) -> list[str]:
    """A seeded sample of the documents with a title, none relevant to a dev or validation query: as many as the
    re-ranker or the sparse model takes (each takes the first of them it needs)."""
    wanted = max(
        config.reranker_pseudo_queries if config.reranker_output is not None else 0,
        config.sparse_pseudo_queries if config.sparse_base is not None else 0,
    )
    if not wanted:
        return []
    excluded = {d for q in held_out for d in data.relevant[q]}
    candidates = [d for d in data.titled if d not in excluded]
    return random.Random(config.seed + 2).sample(candidates, min(wanted, len(candidates)))


def _base_name(config: FinetuneConfig) -> str:
    if config.base is not None:
        return config.base
    packaged = packaged_default_path()
    if packaged is None:
        raise ModelNotFoundError("no base model given and the packaged all-MiniLM-L6-v2 is not installed")
    return str(packaged)


def _load_encoder(name: str, config: FinetuneConfig) -> SentenceEncoder:
    model = SentenceEncoder(name)
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    return model


def _evaluate(model: SentenceEncoder, data: RetrievalData, config: FinetuneConfig, dev_ids: list[str]) -> RetrievalRun:
    return evaluate_bi_encoder(
        model,
        data.corpus,
        {q: data.queries[q] for q in dev_ids},
        data.relevant,
        batch_size=config.eval_batch_size,
        show_progress=config.show_progress,
    )


def _rankings(
    model: SentenceEncoder, run: RetrievalRun, data: RetrievalData, config: FinetuneConfig, query_ids: list[str]
) -> dict[str, Ranking]:
    """The model's best documents for ``query_ids`` (dev, and the re-ranker's validation queries)."""
    scores = query_scores(
        model, [data.queries[q] for q in query_ids], run.corpus_embeddings, batch_size=config.eval_batch_size
    )
    ranked = top_ranked(scores, list(data.corpus), max(RANK_DEPTH, config.rerank_top_k))
    return dict(zip(query_ids, ranked, strict=True))


def _base(
    data: RetrievalData, config: FinetuneConfig, train_ids: list[str], dev_ids: list[str], ranked_ids: list[str]
) -> dict[str, Any]:
    model = _load_encoder(_base_name(config), config)
    run = _evaluate(model, data, config, dev_ids)
    negatives: dict[str, dict[str, list[str]]] = {}
    corpus_ids = list(data.corpus)
    position = {d: i for i, d in enumerate(corpus_ids)}
    wanted = config.hard_negatives
    if wanted:
        scores = query_scores(
            model, [data.queries[q] for q in train_ids], run.corpus_embeddings, batch_size=config.eval_batch_size
        )
        mined = mine_hard_negatives(
            scores,
            [[position[d] for d in data.relevant[q]] for q in train_ids],
            num_negatives=wanted,
            skip_top=config.skip_top,
            depth=config.mining_depth,
            margin=config.negative_margin,
        )
        for q, per_positive in zip(train_ids, mined, strict=True):
            given = data.negatives.get(q, [])
            negatives[q] = {corpus_ids[p]: given + [corpus_ids[i] for i in found] for p, found in per_positive.items()}
    else:
        negatives = {q: {p: list(data.negatives.get(q, [])) for p in data.relevant[q]} for q in train_ids}
    found = sum(min(len(n), wanted) for per in negatives.values() for n in per.values())
    logger.info("mined %d hard negatives for %d training pairs", found, sum(len(data.relevant[q]) for q in train_ids))
    titles = _pseudo_query_documents(data, config, ranked_ids)
    title_negatives: dict[str, list[str]] = {}
    if titles:
        scores = query_scores(
            model, [data.titled[d][0] for d in titles], run.corpus_embeddings, batch_size=config.eval_batch_size
        )
        mined_for_titles = mine_hard_negatives(
            scores,
            [[position[d]] for d in titles],
            num_negatives=wanted,
            skip_top=config.skip_top,
            depth=config.mining_depth,
            margin=config.negative_margin,
        )
        for d, per_positive in zip(titles, mined_for_titles, strict=True):
            title_negatives[d] = [corpus_ids[i] for i in per_positive[position[d]]]
    return {
        "metrics": run.metrics,
        "negatives": negatives,
        "title_negatives": title_negatives,
        "rankings": _rankings(model, run, data, config, ranked_ids),
    }


def _train(
    data: RetrievalData,
    config: FinetuneConfig,
    train_ids: list[str],
    negatives: dict[str, dict[str, list[str]]],
    work: Path,
    callbacks: Sequence[Callback],
) -> dict[str, float]:
    rows = bi_encoder_rows(
        train_ids,
        data.queries,
        data.corpus,
        data.relevant,
        negatives,
        num_negatives=config.hard_negatives,
        seed=config.seed,
    )
    model = _load_encoder(_base_name(config), config)
    settings = config.ranking_training(
        str(work),
        epochs=config.epochs,
        learning_rate=config.learning_rate,
        router_mapping=query_document_mapping(model, list(rows[0])),
    )
    loss: MultipleNegativesRankingLoss = (
        CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.cached_above)
        if config.batch_size > config.cached_above
        else MultipleNegativesRankingLoss(model)
    )
    trainer = Trainer(model, loss=loss, train_data=rows, config=settings, callbacks=callbacks)
    resume = "latest" if list_checkpoints(work / CHECKPOINTS_DIR) else None
    metrics = trainer.train(resume_from=resume)
    shutil.rmtree(work / CHECKPOINTS_DIR, ignore_errors=True)
    return {
        **metrics,
        "rows": float(len(rows)),
        "negatives_per_row": float(len(rows[0]) - 2),
        "cached_loss": float(isinstance(loss, CachedMultipleNegativesRankingLoss)),
    }


def _evaluate_saved(
    data: RetrievalData, config: FinetuneConfig, dev_ids: list[str], ranked_ids: list[str], folder: Path
) -> dict[str, Any]:
    model = _load_encoder(str(folder), config)
    run = _evaluate(model, data, config, dev_ids)
    return {
        "metrics": run.metrics,
        "rankings": _rankings(model, run, data, config, ranked_ids),
    }


def _keep_better(
    base: dict[str, Any], tuned: dict[str, Any], config: FinetuneConfig, trained: Path, state: RunState
) -> str:
    """Publish the fine-tuned model in the output folder when it beats the base model on dev nDCG@10, else the
    base model (a previous run's model there is replaced only once this one is complete)."""
    better = tuned["metrics"][PRIMARY] > base["metrics"][PRIMARY]
    model = _load_encoder(str(trained) if better else _base_name(config), config)
    state.publish(model.save)
    kept = "fine-tuned" if better else "base"
    logger.info(
        "kept the %s model (dev %s %.4f vs base %.4f)",
        kept,
        PRIMARY,
        tuned["metrics"][PRIMARY],
        base["metrics"][PRIMARY],
    )
    return kept


def _train_reranker(
    data: RetrievalData,
    config: FinetuneConfig,
    train_ids: list[str],
    negatives: dict[str, dict[str, list[str]]],
    title_negatives: dict[str, list[str]],
    kept: Path,
    work: Path,
    callbacks: Sequence[Callback],
) -> dict[str, float]:
    """Train the re-ranker; with ``reranker_first_stage_scale`` as a correction of the kept bi-encoder
    (saved in ``kept``), the one whose candidates it re-orders."""
    from sbert_plugins.cross_encoder import CrossEncoder

    rows = bi_encoder_rows(
        train_ids,
        data.queries,
        data.corpus,
        data.relevant,
        negatives,
        num_negatives=config.hard_negatives,
        seed=config.seed + 1,
    )
    query_rows = len(rows)
    titles = list(title_negatives)[: config.reranker_pseudo_queries]
    rows += title_rows(titles, data.titled, title_negatives, num_negatives=config.hard_negatives)
    torch.manual_seed(config.seed)  # the fresh head's initial weights
    reranker = CrossEncoder(_base_name(config), num_labels=1)
    reranker.max_length = min(config.reranker_max_length, reranker.max_length)  # never past the model's limit
    per_epoch = -(-len(rows) // config.reranker_batch_size)
    settings = TrainingConfig(
        output_dir=str(work),
        epochs=config.reranker_epochs,
        max_steps=max(config.reranker_min_steps, per_epoch * config.reranker_epochs),
        batch_size=config.reranker_batch_size,
        learning_rate=config.reranker_lr,
        warmup_ratio=0.1,
        group_by_length=True,
        batch_sampler="no_duplicates",
        precision=config.precision,
        seed=config.seed,
        save_steps=config.checkpoint_steps,
        save_total_limit=1,
        show_progress=config.show_progress,
    )
    scale = config.reranker_first_stage_scale
    loss = CrossEncoderMNRL(
        reranker,
        num_negatives=config.reranker_random_negatives,
        first_stage=None if scale is None else _load_encoder(str(kept), config),
        first_stage_scale=scale or 20.0,
    )
    trainer = Trainer(reranker, loss=loss, train_data=rows, config=settings, callbacks=callbacks)
    resume = "latest" if list_checkpoints(work / CHECKPOINTS_DIR) else None
    metrics = trainer.train(resume_from=resume)
    if config.reranker_output is not None:
        reranker.save(config.reranker_output)
    return {**metrics, "rows": float(len(rows)), "title_rows": float(len(rows) - query_rows)}


def _write_fusion_record(config: FinetuneConfig, kept: Path, weight: float) -> None:
    """Save the chosen weight in the re-ranker's folder with the fingerprints of both models, so that
    ``SBERTReranker`` and ``search --rerank`` apply it to the pair it was tuned on."""
    from sbert_plugins.cross_encoder import CrossEncoder, FusionRecord, write_fusion_record

    if config.reranker_output is None:
        return
    record = FusionRecord(
        weight=float(weight),
        first_stage_fingerprint=SentenceEncoder(kept).fingerprint,
        first_stage=str(kept),
        candidates=config.rerank_top_k,
        reranker_fingerprint=CrossEncoder(config.reranker_output).fingerprint,
    )
    path = write_fusion_record(config.reranker_output, record)
    logger.info("fusion weight %.2f for this bi-encoder and re-ranker saved in %s", weight, path)


def _evaluate_reranker(
    data: RetrievalData,
    config: FinetuneConfig,
    validation_ids: list[str],
    dev_ids: list[str],
    chosen: dict[str, Any],
) -> dict[str, Any]:
    """Dev metrics of the kept bi-encoder's candidates re-ordered by the re-ranker alone and by the mix of
    both scores whose weight did best on the re-ranker's validation queries."""
    from sbert_plugins.cross_encoder import CrossEncoder

    reranker = CrossEncoder(str(config.reranker_output))  # with the max_length it was trained with

    def scored(ids: list[str]) -> RerankedHeads:
        return score_heads(
            reranker,
            [data.queries[q] for q in ids],
            [chosen["rankings"][q] for q in ids],
            [data.relevant[q] for q in ids],
            data.corpus,
            top_k=config.rerank_top_k,
            batch_size=config.eval_batch_size,
            show_progress=config.show_progress,
        )

    validation = scored(validation_ids)
    weight = choose_fusion_weight(validation)
    dev = scored(dev_ids)
    logits: dict[str, dict[str, float]] = {}  # reused by the stack comparison
    for ids, heads in ((validation_ids, validation), (dev_ids, dev)):
        for q, head, scores in zip(ids, heads.heads, heads.reranker, strict=True):
            logits[q] = dict(zip(head, map(float, scores), strict=True))
    return {
        "reranked": rerank_metrics(dev, 1.0),
        "fused": rerank_metrics(dev, weight),
        "fusion_weight": weight,
        "logits": logits,
    }
