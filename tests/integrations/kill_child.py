"""Child process of the kill -9 test: ingests a corpus into embedded Qdrant, printing each document it reads.

python -m tests.integrations.kill_child MODEL_DIR QDRANT_PATH N
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from integrations.qdrant import QdrantIngestor
from sbert_plugins import SentenceEncoder
from tests.integrations.corpus import make_docs


def announced(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for i, doc in enumerate(docs):
        print(f"read {i}", flush=True)
        yield doc


def main() -> None:
    model_dir, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ingestor = QdrantIngestor(SentenceEncoder(model_dir, device="cpu"), "resume", path=path, batch_size=20)
    print(ingestor.ingest(announced(make_docs(n)), show_progress=False), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
