"""The main job: fine-tune on your own retrieval pairs, put the corpus in Qdrant, search it from LangChain.

1. Fine-tune the default model (all-MiniLM-L6-v2) on the shipped sbert_docs set: 261 questions about this
   project's documentation, over 85 passages (examples/data/sbert_docs; written for this project). A
   seeded fifth of the questions is held out; the base and fine-tuned models are evaluated on it over
   the whole corpus and the better one is kept. With --cross-encoder, a cross-encoder re-ranker is
   trained on the same pairs too (a few more minutes: a fresh head needs a few hundred steps).
2. Ingest the corpus into embedded Qdrant (a local folder, no server) with hybrid search on (dense + BM25).
3. Answer a few new questions through a LangChain chain: a retriever over the Qdrant collection (hybrid:
   dense and BM25 ranks fused), wrapped in RerankingRetriever, which re-scores 10 candidates with the
   fine-tuned model (or, with --cross-encoder, mixes the trained cross-encoder's scores with it over as
   many candidates as the fine-tune chose the weight on: SBERTReranker reads the weight from the
   re-ranker's folder) and keeps 3, piped into a formatter.

Runs offline in a few minutes on 2 CPU cores. A second run reuses the finished fine-tune (it resumes a
completed run); --overwrite (or --fresh) starts over, and is needed when the settings changed since, e.g.
a first run without --cross-encoder.

Run:  python examples/finetune_ingest_search.py            (needs: pip install "sbert-plugins[qdrant,langchain]")
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from pydantic import ConfigDict, Field

from integrations.langchain import RerankingRetriever, SBERTReranker
from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import SbertPluginsError
from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.card import reranked_rows
from trainers.finetune.evaluation import HEADLINE

DATA = Path(__file__).resolve().parent / "data" / "sbert_docs"
QUESTIONS = [
    "My laptop has no network. Can I still fine-tune and search?",
    "Training crashed halfway through, how do I pick it up again?",
    "Which loss do I use when all I have is questions with their answers?",
    "How can I keep exact identifiers like function names findable?",
]


class QdrantRetriever(BaseRetriever):
    """A LangChain retriever over a :class:`QdrantIngestor` collection (hybrid when it has BM25 vectors)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    ingestor: Any
    search_kwargs: dict[str, Any] = Field(default_factory=lambda: {"k": 4})  # RerankingRetriever sets k = fetch_k

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.ingestor.search(query, **self.search_kwargs)
        return [
            Document(hit.text, id=hit.id, metadata={**hit.metadata, "id": hit.id, "score": hit.score}) for hit in hits
        ]


def format_docs(docs: list[Document]) -> str:
    """The passages, best first: re-ranker score, id and the start of the text."""
    return "\n".join(
        f"  {doc.metadata['relevance_score']:.3f}  [{doc.metadata['id']}] {doc.page_content[:110]}..." for doc in docs
    )


def build_parser() -> argparse.ArgumentParser:
    """The script's options (their names match the ones the fine-tune's messages suggest)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/main-job", help="folder for the models and the Qdrant store")
    parser.add_argument(
        "--overwrite",
        "--fresh",
        dest="fresh",
        action="store_true",
        help="start the fine-tune over instead of reusing it (needed after changing the settings)",
    )
    parser.add_argument("--cross-encoder", action="store_true", help="also train a cross-encoder re-ranker")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("trainers.finetune").setLevel(logging.WARNING if args.quiet else logging.INFO)
    out = Path(args.out)
    started = time.perf_counter()

    # 1. Fine-tune (resumes, or reuses a finished run, unless --overwrite).
    config = FinetuneConfig(
        output=str(out / "model"),
        reranker_output=str(out / "reranker") if args.cross_encoder else None,
        epochs=2,
        batch_size=32,
        learning_rate=5e-5,
        hard_negatives=1,
        reranker_min_steps=150,
        reranker_max_length=96,
        reranker_pseudo_queries=100,  # every passage has a title: all, except those of held-out questions
        show_progress=not args.quiet,
    )
    previous = (out / "model" / ".finetune").is_dir() and not args.fresh
    report = finetune(DATA / "pairs.jsonl", config, corpus=DATA / "corpus.jsonl", resume=previous, overwrite=args.fresh)
    tuned = time.perf_counter()

    # 2. Ingest the corpus with the kept model into embedded Qdrant, dense + BM25.
    model = SentenceEncoder(out / "model")
    ingestor = QdrantIngestor(model, "sbert_docs", path=out / "qdrant", hybrid=True, recreate=True)
    summary = ingestor.ingest(DATA / "corpus.jsonl", show_progress=not args.quiet)
    ingested = time.perf_counter()

    # 3. A LangChain chain: hybrid Qdrant retrieval -> cross-encoder re-ranking -> formatted passages.
    # With --cross-encoder the weight comes from out/reranker/fusion.json, checked against this bi-encoder,
    # and RerankingRetriever fetches as many candidates as it was tuned over.
    reranker = (
        SBERTReranker(model=str(out / "reranker"), encoder=model, top_n=3)
        if args.cross_encoder
        else SBERTReranker(encoder=model, top_n=3)
    )
    retriever = RerankingRetriever(
        base_retriever=QdrantRetriever(ingestor=ingestor),
        reranker=reranker,
        fetch_k=None if args.cross_encoder else 10,
    )
    chain = retriever | RunnableLambda(format_docs)

    data = report["data"]
    print(
        f"\nFine-tuned on {data['pairs']} pairs ({data['train_queries']} training / {data['dev_queries']} dev "
        f"questions, {data['corpus_documents']} passages); kept: {report['kept']} model"
    )
    print(f"{'dev metrics':<52}" + "".join(f"{k:>12}" for k in HEADLINE))
    rows = [("before: base", report["base"]), ("after: fine-tuned", report["fine_tuned"])]
    rows += [(f"after: {name}", metrics) for name, metrics in reranked_rows(report)]
    for name, metrics in rows:
        print(f"{name:<52}" + "".join(f"{metrics[k]:>12.4f}" for k in HEADLINE))
    print(f"\nQdrant (embedded, hybrid) at {out / 'qdrant'}: {summary}")
    for question in QUESTIONS:
        print(f"\nQ: {question}")
        print(chain.invoke(question))
    ingestor.close()
    done = time.perf_counter()
    print(
        f"\ntime: fine-tune {tuned - started:.0f} s, ingest {ingested - tuned:.0f} s, "
        f"questions {done - ingested:.0f} s, total {done - started:.0f} s"
    )


if __name__ == "__main__":
    try:
        main()
    except SbertPluginsError as exc:  # a message for the user (e.g. changed settings: --overwrite), no traceback
        raise SystemExit(f"error: {exc}") from None
