"""Child process of the kill -9 ingest tests: ingests a corpus into an embedded store, announcing each document.

python -m tests.faults.ingest_child STORE MODEL_DIR PATH N   (STORE: qdrant, chroma, or chroma-server with PATH
the server's URL)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from sbert_plugins import SentenceEncoder
from tests.integrations.corpus import make_docs

BATCH = 16


def announced(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for i, doc in enumerate(docs):
        print(f"read {i}", flush=True)
        yield doc


def open_ingestor(store: str, model_dir: str, path: str) -> Any:
    """The ingestor the child and the test both use (same settings, so the same vectors)."""
    model = SentenceEncoder(model_dir, device="cpu")
    if store == "qdrant":
        from integrations.qdrant import QdrantIngestor

        return QdrantIngestor(model, "docs", path=path, batch_size=BATCH)
    from integrations.chroma import ChromaIngestor

    if store == "chroma-server":
        return ChromaIngestor(model, "docs", url=path, batch_size=BATCH)
    return ChromaIngestor(model, "docs", path=path, batch_size=BATCH)


def main() -> None:
    store, model_dir, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open_ingestor(store, model_dir, path) as ingestor:
        print(ingestor.ingest(announced(make_docs(n)), show_progress=False), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
