"""Ingest throughput through Ray Data (1 and 2 embedding actors) next to the single-process QdrantIngestor.

Same corpus (SciFact's documents, ``title + " " + text``; ``--limit`` for a subset), same model (the
packaged all-MiniLM-L6-v2), same encode batch size, each run into its own embedded Qdrant folder.
The Ray runs use :func:`integrations.ray.ingest_dataset` on a local Ray instance with one CPU per
actor; an embedded store is written by the driver, so only encoding is spread over the actors. The
Ray times include what a job pays that the single process does not: starting the actors, loading
the model in each, moving rows and vectors through the object store. Each figure is wall time of the
whole call; a re-run of each (every document already stored) is timed as well: the single process
skips stored documents before encoding; Ray into an embedded store re-encodes them and skips them at
write time (against a server, Ray skips them before encoding too). The single-process run goes first
and last, so that a shared machine's drifting load shows.

Run: python benchmarks/ray_ingest.py [--limit N] [--actors 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ray
from ingest import BATCH_SIZE, scifact

from integrations.qdrant import QdrantIngestor
from integrations.ray import QdrantTarget, ingest_dataset
from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts to run (default: 1 2)")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per actor call / ingest step")
    args = parser.parse_args()
    ids, texts = scifact(args.limit)
    docs = [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]
    folder = packaged_default_path()
    if folder is None:
        sys.exit("the packaged all-MiniLM-L6-v2 is not installed")
    cpus = os.cpu_count() or 1
    print(f"{len(docs)} documents, model {folder}, {cpus} CPUs, load average {os.getloadavg()}")
    rows: list[tuple[str, int, float, float]] = []

    with tempfile.TemporaryDirectory() as root:

        def single(name: str) -> None:
            started = time.perf_counter()
            model = SentenceEncoder(folder, device="cpu")
            with QdrantIngestor(
                model, "scifact", path=f"{root}/{name}", batch_size=args.batch_size, encode_batch_size=BATCH_SIZE
            ) as ingestor:
                first = ingestor.ingest(docs, show_progress=False)
                seconds = time.perf_counter() - started  # model load included, as in each Ray actor
                again = ingestor.ingest(docs, show_progress=False)
            rows.append((f"single process ({name})", first.written, seconds, again.seconds))
            print(f"  single process, {name}: {first}", flush=True)

        single("before")
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            dataset = ray.data.from_items(docs)
            for actors in args.actors:
                target = QdrantTarget(collection="scifact", path=f"{root}/ray-{actors}")
                options = {"concurrency": actors, "num_cpus": 1.0, "batch_size": args.batch_size}
                summary = ingest_dataset(dataset, str(folder), target, encode_batch_size=BATCH_SIZE, **options)
                rerun = ingest_dataset(dataset, str(folder), target, encode_batch_size=BATCH_SIZE, **options)
                name = f"Ray, {actors} actor{'s' if actors > 1 else ''}"
                rows.append((name, summary.written, summary.seconds, rerun.seconds))
                print(f"  {name}: {summary}", flush=True)
        finally:
            ray.shutdown()
        single("after")

    print(
        f"\n| path | written | seconds | docs/s | re-run (all stored) s |   load average at the end {os.getloadavg()}"
    )
    print("|---|---:|---:|---:|---:|")
    for name, written, seconds, rerun_seconds in rows:
        print(f"| {name} | {written} | {seconds:.1f} | {len(docs) / seconds:.1f} | {rerun_seconds:.1f} |")


if __name__ == "__main__":
    main()
