"""A small retrieval chain with LangChain: SBERTEmbeddings in a vector store, a re-ranking retriever,
and ``retriever | format_docs``. Runs offline with the default model (all-MiniLM-L6-v2) and prints
the passages retrieved for a few questions, with their scores.

Run: python examples/langchain_rag.py [--cross-encoder PATH]   (needs: pip install "sbert-plugins[langchain]")
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from integrations.langchain import RerankingRetriever, SBERTEmbeddings, SBERTReranker

PASSAGES = [
    ("harp", "The harp is a stringed instrument played by plucking its strings with the fingers."),
    ("piano", "A piano makes sound when its keys move felt hammers that strike steel strings."),
    ("guitar", "An acoustic guitar usually has six strings and a hollow wooden body."),
    ("bread", "Bread is baked from a dough of flour, water and yeast."),
    ("onion", "Slicing an onion releases a gas that makes the eyes water."),
    ("moon", "The Moon takes about 27 days to orbit the Earth."),
    ("sun", "The Sun is a star; its light reaches the Earth in about eight minutes."),
    ("python", "Python is a programming language that emphasises readable code."),
]
QUESTIONS = [
    "Which instrument is played by plucking strings?",
    "How long does sunlight take to get here?",
    "Why do I cry when cutting vegetables?",
]


def format_docs(docs: list[Document]) -> str:
    """The retrieved passages, best first, one line each with the re-ranking score."""
    return "\n".join(
        f"  {doc.metadata['relevance_score']:.3f}  [{doc.metadata['topic']}] {doc.page_content}" for doc in docs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="A retrieval chain over a few passages.")
    parser.add_argument("--cross-encoder", help="re-rank with this cross-encoder folder instead of the bi-encoder")
    parser.add_argument("--k", type=int, default=3, help="passages per question")
    args = parser.parse_args()

    embeddings = SBERTEmbeddings()  # the default model, loaded on first use
    store = InMemoryVectorStore(embeddings)
    store.add_documents([Document(text, metadata={"topic": topic}) for topic, text in PASSAGES])

    reranker = (
        SBERTReranker(model=args.cross_encoder, fusion_weight=None)  # the cross-encoder alone, no mix
        if args.cross_encoder
        else SBERTReranker(encoder=embeddings.encoder)  # one model shared by the store and the reranker
    )
    retriever = RerankingRetriever(base_retriever=store.as_retriever(), reranker=reranker, fetch_k=5, k=args.k)
    chain = retriever | RunnableLambda(format_docs)

    print(f"model: {embeddings.encoder.source}  dim={embeddings.embedding_dim}  passages: {len(PASSAGES)}")
    print(f"re-ranking with: {'cross-encoder ' + args.cross_encoder if args.cross_encoder else 'the bi-encoder'}")
    for question in QUESTIONS:
        print(f"\nQ: {question}")
        print(chain.invoke(question))


if __name__ == "__main__":
    main()
