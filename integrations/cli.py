"""``sbert-plugins ingest`` and ``sbert-plugins search``: a corpus into Qdrant or Chroma, and queries back.

    sbert-plugins ingest corpus.jsonl --qdrant ./qdrant-data --collection docs [--hybrid] [--sparse-model SPLADE]
        [--recreate | --reencode] [--ray [ADDRESS]]
    sbert-plugins search "what is a harp?" --qdrant ./qdrant-data --collection docs -k 5 [--mode M] [--sparse S]
        [--sparse-model SPLADE] [--rerank MODEL [--fusion-weight W | --no-fusion]]

``--sparse-model`` (Qdrant, with or without ``--ray``) stores a learned sparse model's vectors beside the
dense ones; ``search`` uses the one given, else the one the collection records: the name given to
``ingest --sparse-model``.

``search`` runs the stack ``finetune`` recorded beside ``--model`` (``stack.json``: search mode, re-ranker and
fusion weight) unless ``--mode``, ``--rerank``, ``--fusion-weight``, ``--no-fusion`` or ``--no-stack`` say
otherwise.

``--qdrant`` takes a folder (embedded mode) or a server URL (``--api-key`` or ``$QDRANT_API_KEY``,
``--prefer-grpc``); ``--chroma`` takes a folder or ``http://HOST:PORT``. ``ingest --ray [ADDRESS]``
runs the same ingest through Ray Data (a local Ray instance when no address is given; see
:mod:`integrations.ray`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from integrations._base import BaseIngestor, SearchHit
from integrations.stack import qdrant_search, recorded_reranker, recorded_sparse_model
from sbert_plugins.cli import add_model_arguments, model_options
from sbert_plugins.errors import ConfigError
from sbert_plugins.stack_record import check_stack_models, read_stack_record

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

_REMOTE = ("http://", "https://")


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--qdrant", metavar="PATH|URL", help="Qdrant: a folder (embedded mode) or a server URL")
    target.add_argument("--chroma", metavar="PATH|URL", help="Chroma: a folder (embedded) or http://HOST:PORT")
    parser.add_argument("--collection", required=True, help="collection name")
    parser.add_argument("--api-key", default=None, help="Qdrant server API key (default: $QDRANT_API_KEY)")
    parser.add_argument("--prefer-grpc", action="store_true", help="talk to a Qdrant server over gRPC")


def check_qdrant_only_options(args: argparse.Namespace) -> None:
    """Refuse, with ``--chroma``, the options only Qdrant has: ``--sparse-model``, ``--hybrid`` (ingest),
    ``--api-key`` and ``--prefer-grpc`` (one rule for the single-process and the ``--ray`` ingest).

    Raises:
        ConfigError: one of them was given without ``--qdrant``.
    """
    if args.qdrant is not None:
        return
    if args.sparse_model is not None:
        raise ConfigError("--sparse-model (learned sparse vectors) is available with --qdrant only")
    if getattr(args, "hybrid", False):
        raise ConfigError("--hybrid (BM25 + dense) is available with --qdrant only")
    if args.api_key or args.prefer_grpc:
        raise ConfigError("--api-key and --prefer-grpc apply to --qdrant only")


def _open(args: argparse.Namespace, **options: Any) -> BaseIngestor:
    from sbert_plugins.encoder import SentenceEncoder

    check_qdrant_only_options(args)
    model = SentenceEncoder(args.model, device=args.device, precision=args.precision, **model_options(args))
    if args.sparse_model is not None:
        from sbert_plugins.sparse import SparseEncoder

        # Recorded by the name given; the same device and precision as the dense model (as with --ray and serve).
        options["sparse_model"] = SparseEncoder(args.sparse_model, device=args.device, precision=args.precision)
    if args.qdrant is not None:
        from integrations.qdrant import QdrantIngestor

        if args.qdrant.startswith(_REMOTE):
            api_key = args.api_key or os.environ.get("QDRANT_API_KEY")
            return QdrantIngestor(
                model, args.collection, url=args.qdrant, api_key=api_key, prefer_grpc=args.prefer_grpc, **options
            )
        return QdrantIngestor(model, args.collection, path=args.qdrant, **options)
    from integrations.chroma import ChromaIngestor

    options.pop("hybrid", None)  # False: check_qdrant_only_options refused it
    if args.chroma.startswith(_REMOTE):
        return ChromaIngestor(model, args.collection, url=args.chroma, **options)
    return ChromaIngestor(model, args.collection, path=args.chroma, **options)


def _cmd_ingest(args: argparse.Namespace) -> int:
    if args.ray is not None:
        from integrations.ray.cli import ingest_with_ray

        print(ingest_with_ray(args))
        return 0
    options = {"hybrid": args.hybrid, "recreate": args.recreate, "reencode": args.reencode}
    with _open(args, **options, batch_size=args.batch_size) as ingestor:
        summary = ingestor.ingest(args.corpus, show_progress=not args.quiet)
    print(summary)
    return 0


def _parse_filter(pairs: list[str]) -> dict[str, Any] | None:
    if not pairs:
        return None
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--filter expects KEY=VALUE, found {pair!r}")
        try:
            result[key] = json.loads(value)  # numbers and booleans keep their type
        except json.JSONDecodeError:
            result[key] = value
    return result


def rerank(
    query: str,
    hits: list[SearchHit],
    model_name: str,
    k: int,
    device: str | None,
    fusion_weight: float | None = None,
    *,
    encoder: SentenceEncoder | None = None,
    fusion: bool = True,
    cross_encoder: Any = None,
) -> list[SearchHit]:
    """Re-score ``hits`` with a cross-encoder and keep the best ``k``.

    ``score`` becomes the cross-encoder's score, or, with a fusion weight, the fused score of the rule in
    :mod:`sbert_plugins.cross_encoder.fusion` over the hits: the cross-encoder's logits mixed with
    ``encoder``'s similarities of the query and each hit's text (not the search score, which is a rank
    score on hybrid collections). The weight is ``fusion_weight`` or, when ``None`` and ``fusion`` is on,
    the one recorded in the cross-encoder's folder, which must have been tuned with ``encoder``.
    ``cross_encoder``: the model of ``model_name`` when the caller loaded it already.

    Raises:
        ConfigError: no cross-encoder support in this installation; ``fusion_weight`` outside [0, 1]; a
            weight without ``encoder``; a recorded weight tuned with another bi-encoder or re-ranker.
    """
    cross = _cross_encoder_module()
    from sbert_plugins.cross_encoder.fusion_record import applied_fusion_weight  # importable once cross is

    if fusion_weight is not None and not 0.0 <= fusion_weight <= 1.0:
        raise ConfigError(f"--fusion-weight must lie in [0, 1], found {fusion_weight}")
    requested: float | Literal["recorded"] | None = fusion_weight
    if fusion_weight is None and fusion:
        requested = "recorded"
    first_stage = encoder.fingerprint if encoder is not None else None
    weight = applied_fusion_weight(requested, model_name, first_stage_fingerprint=first_stage)
    if weight is not None and encoder is None:
        raise ConfigError("a fusion weight needs the first-stage bi-encoder (--model) to mix with")
    if not hits:
        return []
    if cross_encoder is None:
        cross_encoder = cross.CrossEncoder(model_name, device=device)
    pairs = [(query, h.text) for h in hits]
    if weight is None:
        scores = cross_encoder.predict(pairs)
    else:
        # The re-ranker's fingerprint is known only now; the first stage was checked above.
        applied_fusion_weight(requested, model_name, reranker_fingerprint=cross_encoder.fingerprint)
        first = cross.first_stage_scores(encoder, query, [h.text for h in hits])
        scores = cross.fuse_scores(first, cross.reranker_scores(cross_encoder, pairs), weight)
    order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))[:k]
    return [SearchHit(hits[i].id, hits[i].text, hits[i].metadata, float(scores[i])) for i in order]


def _cross_encoder_module() -> ModuleType:
    try:
        return importlib.import_module("sbert_plugins.cross_encoder")
    except ImportError as exc:
        raise ConfigError("--rerank needs sbert_plugins.cross_encoder, which this installation lacks") from exc


def _default_fetch_k(args: argparse.Namespace) -> int:
    """Candidates to fetch: ``--fetch-k``; with ``--rerank`` and a recorded fusion weight (and no
    ``--no-fusion``), the candidates it was tuned over; with ``--rerank``, ``max(4k, 20)``; else ``k``."""
    if args.fetch_k is not None:
        return int(args.fetch_k)
    if not args.rerank:
        return int(args.k)
    if not args.no_fusion:
        record = _cross_encoder_module().read_fusion_record(args.rerank)
        if record is not None:
            return max(record.candidates, args.k)
    return max(4 * args.k, 20)


def _cmd_search(args: argparse.Namespace) -> int:
    if args.k <= 0:
        raise ConfigError(f"-k must be a positive integer, found {args.k}")
    if not args.rerank and (args.fusion_weight is not None or args.no_fusion):
        raise ConfigError("--fusion-weight and --no-fusion mix a cross-encoder's scores: pass --rerank too")
    if args.fusion_weight is not None and args.no_fusion:
        raise ConfigError("--fusion-weight W fuses, --no-fusion does not: pass one of them")
    fetch_k = _default_fetch_k(args)
    if fetch_k < args.k:
        raise ConfigError(f"--fetch-k ({fetch_k}) must be at least -k ({args.k})")
    options: dict[str, Any] = {"filter": _parse_filter(args.filter)}
    for name in ("mode", "sparse", "sparse_weight"):
        if getattr(args, name) is not None:
            if args.qdrant is None:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} applies to --qdrant only (Chroma searches dense vectors)")
            options[name] = getattr(args, name)
    explicit = (
        any(getattr(args, name) is not None for name in ("mode", "sparse", "sparse_weight", "fusion_weight"))
        or args.rerank
        or args.no_fusion
        or args.no_stack
    )
    record = None if explicit or args.model is None else read_stack_record(args.model)
    open_options: dict[str, Any] = {}
    if record is not None:
        if args.qdrant is None and record.first_stage != "dense":
            raise ConfigError(
                f"{args.model} records the stack {record.name!r}, which needs Qdrant's sparse vectors: search a "
                "Qdrant collection with them (--qdrant), or pass --no-stack to search Chroma's dense vectors"
            )
        if args.qdrant is not None:
            options["mode"], sparse = qdrant_search(record)
            if sparse is not None:
                options["sparse"] = sparse
        if args.sparse_model is None and record.sparse_model is not None:
            open_options["sparse_model"] = recorded_sparse_model(record, args.model, device=args.device)
    with _open(args, **open_options) as ingestor:
        reranker = None
        if record is not None:
            check_stack_models(record, dense_fingerprint=ingestor.model.fingerprint, where=str(args.model))
            reranker = recorded_reranker(record, args.model, device=args.device)
            if reranker is not None and args.fetch_k is None:
                fetch_k = max(record.candidates, args.k)
            if not args.json:
                print(f"stack {record.name} (recorded in {args.model})", file=sys.stderr)
        hits = ingestor.search(args.query, fetch_k, **options)  # type: ignore[attr-defined]
        if record is not None and reranker is not None:
            hits = rerank(
                args.query,
                hits,
                str(record.reranker_path(args.model)),
                args.k,
                args.device,
                record.fusion_weight,
                encoder=ingestor.model,
                cross_encoder=reranker,
            )
        elif args.rerank:
            hits = rerank(
                args.query,
                hits,
                args.rerank,
                args.k,
                args.device,
                args.fusion_weight,
                encoder=ingestor.model,
                fusion=not args.no_fusion,
            )
    hits = hits[: args.k]
    if args.json:
        print(json.dumps([{"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata} for h in hits]))
    else:
        for rank, hit in enumerate(hits, start=1):
            text = hit.text if len(hit.text) <= 100 else hit.text[:97] + "..."
            print(f"{rank:>3}  {hit.score:+.4f}  {hit.id}  {text}")
    return 0


def _add_sparse_model_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--sparse-model", metavar="PATH", default=None, help=help)


def register_ingest(subparsers: Any) -> None:
    """Add ``ingest``: embed a JSONL corpus into a Qdrant or Chroma collection."""
    parser = subparsers.add_parser("ingest", help="embed a JSONL corpus into a Qdrant or Chroma collection")
    parser.add_argument("corpus", help="JSONL corpus: one {_id|id, [title], text, ...} object per line")
    add_model_arguments(parser)
    _add_target_arguments(parser)
    parser.add_argument("--hybrid", action="store_true", help="also store BM25 sparse vectors (Qdrant)")
    _add_sparse_model_argument(parser, "also store this learned sparse model's vectors (Qdrant; a SparseEncoder)")
    parser.add_argument("--recreate", action="store_true", help="delete the collection first")
    parser.add_argument(
        "--reencode",
        action="store_true",
        help="if the collection holds another model's vectors (e.g. after re-training the model), rewrite every "
        "stored vector with this model first, keeping ids, texts and metadata",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="documents per encode step (default: 256)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run through Ray Data: a cluster address (ray://HOST:10001 or auto), or none for a local instance",
    )
    parser.add_argument("--actors", type=int, default=1, help="with --ray: embedding actors (default: 1)")
    parser.add_argument("--gpus-per-actor", type=float, default=0.0, help="with --ray: GPUs per actor (default: 0)")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0, help="with --ray: CPUs per actor (default: 1)")
    parser.set_defaults(handler=_cmd_ingest)


def register_search(subparsers: Any) -> None:
    """Add ``search``: query a collection, optionally re-ranked by a cross-encoder."""
    parser = subparsers.add_parser("search", help="query a Qdrant or Chroma collection")
    parser.add_argument("query")
    add_model_arguments(parser)
    _add_target_arguments(parser)
    parser.add_argument("-k", type=int, default=10, help="results to print (default: 10)")
    parser.add_argument("--rerank", metavar="CROSS_ENCODER", default=None, help="re-rank with this cross-encoder")
    parser.add_argument(
        "--fusion-weight",
        type=float,
        default=None,
        help="with --rerank: rank by this share of the cross-encoder's standardised logit plus the rest of the "
        "--model's standardised similarity (default: the weight finetune --reranker-output saved in the "
        "cross-encoder's folder, if any, for the bi-encoder it was tuned with)",
    )
    parser.add_argument(
        "--no-fusion",
        action="store_true",
        help="with --rerank: rank by the cross-encoder alone, ignoring its folder's weight",
    )
    parser.add_argument(
        "--fetch-k",
        type=int,
        default=None,
        help="candidates to fetch (default: k; with --rerank, the candidates the recorded weight was tuned over, "
        "else max(4k, 20))",
    )
    parser.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE", help="metadata filter")
    parser.add_argument(
        "--mode",
        choices=["dense", "sparse", "hybrid", "fusion"],
        default=None,
        help="Qdrant search mode: hybrid fuses dense and sparse by reciprocal rank fusion, fusion by the project's "
        "fusion rule (default: hybrid when the collection has sparse vectors)",
    )
    parser.add_argument(
        "--sparse",
        choices=["bm25", "learned"],
        default=None,
        help="which sparse vectors (default: learned when the collection has them, else bm25)",
    )
    parser.add_argument(
        "--sparse-weight", type=float, default=None, help="with --mode fusion: the sparse side's share (default 0.5)"
    )
    _add_sparse_model_argument(
        parser,
        "the learned sparse model for the query (default: the one the collection records, i.e. the name given to "
        "ingest --sparse-model)",
    )
    parser.add_argument(
        "--no-stack",
        action="store_true",
        help="ignore the retrieval stack finetune recorded beside --model (stack.json: mode, re-ranker, weight)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=_cmd_search)
