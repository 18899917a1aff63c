"""Learned sparse retrieval on SciFact, as a user would run it: ``finetune`` with ``--sparse-base`` (an
inference-free SPLADE built from all-MiniLM-L6-v2, trained on the pairs plus title pseudo-queries) and,
with ``--reranker``, ``--reranker-output``; then every retrieval stack on the dev claims, the chosen one, the
sparse model's training time and active dimensions, and the size of a Qdrant collection holding the dense,
BM25 and learned sparse vectors of the corpus.

Data: ../shared/data/scifact (BEIR folder; ``finetune`` carves a seeded 20% of the train claims out as the dev
split, and 10% of the rest as validation claims that choose the stack). Every dev claim retrieves from the whole
corpus (5,183 abstracts) unless ``--corpus-limit`` keeps fewer (a quick run: the documents relevant to the
kept claims plus the first N others).

Run:  python benchmarks/sparse_scifact.py [--reranker] [--precision bf16]      (full corpus: long on 2 CPUs)
      python benchmarks/sparse_scifact.py --corpus-limit 500 --query-limit 200 --sparse-pseudo-queries 200 \\
          --max-seq-length 128 --skip-qdrant                                        (a quick run)

Targets: learned sparse >= BM25 and dense + learned sparse >= dense + BM25 (dev nDCG@10).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from _data import DATA_DIR

from sbert_plugins.bm25 import BM25Encoder
from sbert_plugins.loading import packaged_default_path
from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.card import stack_rows
from trainers.finetune.evaluation import HEADLINE
from trainers.finetune.sparse import SPARSE_DIR

SCIFACT = DATA_DIR / "scifact"


def read_jsonl(paths: list[Path]) -> list[dict[str, Any]]:
    """Every row of the JSONL files, in order."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


def subset(data: Path, target: Path, *, corpus_limit: int | None, query_limit: int | None, seed: int) -> Path:
    """A BEIR folder with fewer claims (a seeded sample of ``query_limit``) and documents (those relevant to the
    kept claims plus the first ``corpus_limit`` others); ``data`` itself when nothing is limited."""
    if corpus_limit is None and query_limit is None:
        return data
    qrels: dict[str, set[str]] = {}
    with (data / "qrels" / "train.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    kept = sorted(qrels)
    if query_limit is not None:
        kept = sorted(random.Random(seed).sample(kept, min(query_limit, len(kept))))
    relevant = {d for q in kept for d in qrels[q]}
    corpus = read_jsonl(sorted(data.glob("corpus*.jsonl")))
    others = [row for row in corpus if row["_id"] not in relevant][: corpus_limit or len(corpus)]
    chosen = {row["_id"] for row in others} | relevant
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    rows = [row for row in corpus if row["_id"] in chosen]
    (target / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    queries = [q for q in read_jsonl([data / "queries.jsonl"]) if q["_id"] in set(kept)]
    (target / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q in kept for d in sorted(qrels[q])]
    (target / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def qdrant_sizes(data: Path, model: Path, store: Path) -> dict[str, float]:
    """Ingest the corpus into embedded Qdrant with the kept dense model, BM25 and the kept sparse model; the
    folder's size on disk, the ingest time and the stored vectors' bytes by kind (4-byte floats, and a 4-byte
    index per sparse value)."""
    from integrations.qdrant import QdrantIngestor

    rows = read_jsonl(sorted(data.glob("corpus*.jsonl")))
    documents = [{"id": r["_id"], "text": f"{r.get('title', '')} {r['text']}".strip()} for r in rows]
    started = time.perf_counter()
    with QdrantIngestor(
        str(model), "scifact", path=store, hybrid=True, sparse_model=str(model / SPARSE_DIR), recreate=True
    ) as ingestor:
        ingestor.ingest(documents, show_progress=False)
        dimension = ingestor.model.embedding_dim
    seconds = time.perf_counter() - started
    bm25 = BM25Encoder()
    bm25_values = sum(len(v.indices) for v in bm25.encode_documents([d["text"] for d in documents]))
    return {
        "documents": float(len(documents)),
        "ingest_s": seconds,
        "folder_mib": folder_bytes(store) / 2**20,
        "dense_mib": len(documents) * dimension * 4 / 2**20,
        "bm25_mib": bm25_values * 8 / 2**20,
        "bm25_active_dims": bm25_values / len(documents),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SCIFACT, help="a BEIR folder (default: ../shared/data/scifact)")
    parser.add_argument("--output", default="out/scifact-sparse", help="the finetune output (model, sparse/, stack)")
    parser.add_argument("--reranker", action="store_true", help="also train the re-ranker (--reranker-output)")
    parser.add_argument("--reranker-output", default="out/scifact-sparse-reranker")
    parser.add_argument("--reranker-min-steps", type=int, default=300)
    parser.add_argument("--reranker-pseudo-queries", type=int, default=3000)
    parser.add_argument("--sparse-base", default=None, help="default: the packaged all-MiniLM-L6-v2")
    parser.add_argument("--sparse-pseudo-queries", type=int, default=3000, help="title pseudo-queries for SPLADE")
    parser.add_argument("--sparse-lr", type=float, default=2e-5)
    parser.add_argument("--sparse-document-regularizer", type=float, default=3e-4)
    parser.add_argument("--sparse-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=None, help="default: the model's (256)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="training arithmetic")
    parser.add_argument("--corpus-limit", type=int, default=None, help="quick run: documents besides relevant ones")
    parser.add_argument("--query-limit", type=int, default=None, help="quick run: claims kept (seeded sample)")
    parser.add_argument("--skip-qdrant", action="store_true", help="no Qdrant ingest (index size)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --output")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"SciFact not found at {args.data}")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trainers.finetune").setLevel(logging.INFO)
    output = Path(args.output)
    data = subset(
        args.data,
        output.parent / (output.name + "-data"),
        corpus_limit=args.corpus_limit,
        query_limit=args.query_limit,
        seed=args.seed,
    )
    sparse_base = args.sparse_base or str(packaged_default_path())
    config = FinetuneConfig(
        output=str(output),
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        precision=args.precision,
        seed=args.seed,
        sparse_base=sparse_base,
        sparse_pseudo_queries=args.sparse_pseudo_queries,
        sparse_learning_rate=args.sparse_lr,
        sparse_document_regularizer=args.sparse_document_regularizer,
        sparse_epochs=args.sparse_epochs,
        reranker_output=args.reranker_output if args.reranker else None,
        reranker_min_steps=args.reranker_min_steps,
        reranker_pseudo_queries=args.reranker_pseudo_queries,
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    report = finetune(data, config, resume=args.resume, overwrite=not args.resume)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)

    counts = report["data"]
    print(
        f"\nSciFact dev: {counts['dev_queries']} claims over {counts['corpus_documents']:,} documents; "
        f"{counts['train_queries']} training and {counts['validation_queries']} validation claims"
    )
    print("settings:", json.dumps({k: v for k, v in report["config"].items() if v is not None}, sort_keys=True))
    print(f"{'stack (dev)':<34}{'validation':>12}" + "".join(f"{k:>12}" for k in HEADLINE))
    for name, validation, dev in stack_rows(report):
        label = name + ("  <- chosen" if name == report["stack"] else "")
        print(f"{label:<34}{validation:>12.4f}" + "".join(f"{dev[k]:>12.4f}" for k in HEADLINE))
    sparse, stacks = report["sparse"], report["stacks"]
    for part in ("base", "fine_tuned"):
        metrics = sparse[part]
        print(
            f"sparse {part:<11} nDCG@10 {metrics['ndcg@10']:.4f}, active dims: queries "
            f"{metrics['query_active_dims']:.1f}, documents {metrics['corpus_active_dims']:.1f}"
        )
    print(f"kept sparse model: {sparse['kept']}; dense model: {report['kept']}")
    ndcg = {name: result["dev"]["ndcg@10"] for name, result in stacks.items()}
    for better, worse in (("sparse", "bm25"), ("dense+sparse", "dense+bm25")):
        verdict = "met" if ndcg[better] >= ndcg[worse] else "NOT met"
        print(f"target {better} >= {worse}: {ndcg[better]:.4f} vs {ndcg[worse]:.4f} ({verdict})")
    print(f"moonshot: chosen stack {report['stack']} dev nDCG@10 {ndcg[report['stack']]:.4f} (target 0.75)")
    print("seconds per phase, wall and process CPU:")
    for phase, seconds in report["timings_s"].items():
        print(f"  {phase:<24}{seconds:>9.1f}{report['cpu_s'].get(phase, float('nan')):>9.1f}")
    if not args.skip_qdrant:
        sizes = qdrant_sizes(data, output, output.parent / (output.name + "-qdrant"))
        learned = sparse[sparse["kept"].replace("-", "_")]["corpus_active_dims"] * sizes["documents"] * 8 / 2**20
        print(
            f"Qdrant (embedded) with dense + BM25 + learned sparse vectors of {int(sizes['documents']):,} documents: "
            f"{sizes['folder_mib']:.1f} MiB on disk, ingest {sizes['ingest_s']:.0f} s; vector bytes: dense "
            f"{sizes['dense_mib']:.1f} MiB, BM25 {sizes['bm25_mib']:.1f} MiB ({sizes['bm25_active_dims']:.1f} "
            f"terms per document), learned sparse {learned:.1f} MiB"
        )
    print(
        f"wall {wall:.0f} s (finetune), process CPU {usage.ru_utime + usage.ru_stime:.0f} s, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"load average (1/5/15 min) at start {load_before}, at end {os.getloadavg()} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
