"""``sbert-plugins ingest ... --ray [ADDRESS]``: the CLI's ingest, run through :func:`ingest_dataset`."""

from __future__ import annotations

import argparse
import os

from pydantic import SecretStr

from integrations._ingest import Summary
from integrations.cli import check_qdrant_only_options
from integrations.ray._embed import ray_module
from integrations.ray._targets import ChromaTarget, QdrantTarget
from integrations.ray._write import ingest_dataset, read_jsonl


def target_from_args(args: argparse.Namespace) -> QdrantTarget | ChromaTarget:
    """The ingest target named by ``--qdrant``/``--chroma`` and ``--collection`` (``--hybrid`` and
    ``--sparse-model`` for Qdrant).

    Raises:
        ConfigError: a Qdrant-only option with ``--chroma``.
    """
    check_qdrant_only_options(args)
    remote = ("http://", "https://")
    if args.qdrant is not None:
        location = {"url": args.qdrant} if args.qdrant.startswith(remote) else {"path": args.qdrant}
        api_key = args.api_key or os.environ.get("QDRANT_API_KEY")
        return QdrantTarget(
            collection=args.collection,
            **location,
            api_key=SecretStr(api_key) if api_key and "url" in location else None,
            prefer_grpc=args.prefer_grpc,
            hybrid=args.hybrid,
            sparse_model=args.sparse_model,
            recreate=args.recreate,
            reencode=args.reencode,
        )
    location = {"url": args.chroma} if args.chroma.startswith(remote) else {"path": args.chroma}
    return ChromaTarget(collection=args.collection, **location, recreate=args.recreate, reencode=args.reencode)


def ingest_with_ray(args: argparse.Namespace) -> Summary:
    """Connect to (or start) Ray, then ingest ``args.corpus`` into the target; returns the summary.

    ``args.ray`` is the cluster address (``""``: the Ray instance this process already runs, else a new
    local one). The Ray instance is shut down afterwards only if this call started it.
    """
    ray = ray_module()
    target = target_from_args(args)
    started = not ray.is_initialized()
    if started:
        env = {"HF_HUB_OFFLINE": os.environ["HF_HUB_OFFLINE"]} if "HF_HUB_OFFLINE" in os.environ else {}
        ray.init(address=args.ray or None, runtime_env={"env_vars": env} if env else None)
    try:
        if args.quiet:
            ray.data.DataContext.get_current().enable_progress_bars = False
        return ingest_dataset(
            read_jsonl(args.corpus),
            args.model,
            target,
            concurrency=args.actors,
            num_cpus=args.cpus_per_actor,
            num_gpus=args.gpus_per_actor,
            batch_size=args.batch_size,
            precision=args.precision,
            device=args.device,
        )
    finally:
        if started:
            ray.shutdown()
