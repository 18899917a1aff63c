"""A fine-tuned model in Haystack: ``finetune`` on the shipped sbert_docs pairs (a few steps), the passages
indexed into embedded Qdrant through a Haystack pipeline (dense + BM25 sparse vectors), and questions
answered by the query pipeline of the retrieval stack ``finetune`` chose on its validation questions (dense,
BM25 or both fused, with or without the fine-tuned re-ranker mixed in: ``stack.json`` beside the model),
saved as YAML and loaded back.

Runs offline (the base model is the packaged all-MiniLM-L6-v2); a second run reuses the fine-tune. About 3.5
CPU-minutes on 2 cores. A re-ranker of 40 steps rarely helps, and then ``finetune`` gives it weight 0 (the
ranker keeps the bi-encoder's order); ``--reranker-steps 300`` trains a useful one in a few more minutes.

Run: python examples/haystack_rag.py [--out out/haystack_rag] [--fresh] [--reranker-steps 40]
     (needs: pip install "sbert-plugins[haystack]" qdrant-haystack)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from integrations.haystack import (
    ALLOWED_MODULES,
    SBERTDocumentEmbedder,
    SBERTSparseDocumentEmbedder,
    stack_query_inputs,
    stack_query_pipeline,
)
from sbert_plugins import SentenceEncoder
from trainers.finetune import FinetuneConfig, finetune

DATA = Path(__file__).resolve().parent / "data" / "sbert_docs"
QUESTIONS = [
    "How do I stop the model from loading pickled weights?",
    "Can I continue a fine-tune that was interrupted?",
    "What happens when I ingest the same documents twice?",
]


def read_corpus() -> list[Document]:
    """The shipped passages as Haystack Documents (the title in metadata, embedded before the text)."""
    with (DATA / "corpus.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [Document(id=row["_id"], content=row["text"], meta={"title": row["title"]}) for row in rows]


def store(folder: Path, dimension: int, *, recreate: bool = False) -> QdrantDocumentStore:
    """Embedded Qdrant with a dense vector and a BM25 sparse vector (IDF applied by Qdrant)."""
    return QdrantDocumentStore(
        path=str(folder),
        index="sbert_docs",
        embedding_dim=dimension,
        similarity="cosine",
        use_sparse_embeddings=True,
        sparse_idf=True,
        recreate_index=recreate,
        progress_bar=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/haystack_rag", help="folder for the models, the store and the YAML")
    parser.add_argument("--fresh", action="store_true", help="fine-tune again instead of reusing a finished run")
    parser.add_argument("--reranker-steps", type=int, default=40, help="re-ranker training steps (few: a demo)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    out = Path(args.out)

    # 1. Fine-tune a bi-encoder and a re-ranker on the shipped pairs (a few steps each).
    config = FinetuneConfig(
        output=str(out / "model"),
        reranker_output=str(out / "reranker"),
        epochs=1,
        learning_rate=5e-5,
        reranker_min_steps=args.reranker_steps,
        reranker_max_length=96,
        reranker_pseudo_queries=100,
        show_progress=False,
    )
    previous = (out / "model" / ".finetune").is_dir() and not args.fresh
    report = finetune(DATA / "pairs.jsonl", config, corpus=DATA / "corpus.jsonl", resume=previous, overwrite=args.fresh)
    model = str(out / "model")
    dimension = SentenceEncoder(model).embedding_dim

    # 2. Index: dense and sparse embedders -> DocumentWriter -> embedded Qdrant.
    indexing = Pipeline()
    title_first = {"meta_fields_to_embed": ["title"], "embedding_separator": " "}
    indexing.add_component("dense", SBERTDocumentEmbedder(model=model, progress_bar=False, **title_first))
    indexing.add_component("sparse", SBERTSparseDocumentEmbedder(**title_first))
    indexing.add_component("writer", DocumentWriter(document_store=store(out / "qdrant", dimension, recreate=True)))
    indexing.connect("dense.documents", "sparse.documents")
    indexing.connect("sparse.documents", "writer.documents")
    written = indexing.run({"dense": {"documents": read_corpus()}})["writer"]["documents_written"]
    indexing.get_component("writer").document_store.close()  # embedded Qdrant: one client per folder

    # 3. The recorded stack's query pipeline, saved as YAML and loaded back under the one allowlist entry it needs.
    querying = stack_query_pipeline(model, store(out / "qdrant", dimension), top_k=3, **title_first)
    (out / "query_pipeline.yaml").write_text(querying.dumps(), encoding="utf-8")
    querying = Pipeline.loads(
        (out / "query_pipeline.yaml").read_text(encoding="utf-8"), allowed_modules=ALLOWED_MODULES
    )

    stack = report["stack"]
    print(
        f"\nkept the {report['kept']} model: dev nDCG@10 {report['base']['ndcg@10']:.4f} (base) -> "
        f"{report['fine_tuned']['ndcg@10']:.4f} (fine-tuned); stack {stack} chosen on the validation questions "
        f"(dev nDCG@10 {report['stacks'][stack]['dev']['ndcg@10']:.4f}); {written} passages indexed; "
        f"query pipeline in {out / 'query_pipeline.yaml'}"
    )
    for question in QUESTIONS:
        answer = querying.run(stack_query_inputs(querying, question))
        print(f"\n{question}")
        for document in next(iter(answer.values()))["documents"]:
            print(f"  {document.score:+.3f}  [{document.meta['title']}] {document.content[:100]}")


if __name__ == "__main__":
    main()
