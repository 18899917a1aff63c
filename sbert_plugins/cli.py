"""The ``sbert-plugins`` command line.

Built-in commands: ``encode``, ``similarity``, ``info``. Other packages add commands through the
entry-point group ``sbert_plugins.cli``: each entry point is a function ``register(subparsers)`` that
adds a sub-parser and sets its ``handler`` default to a function ``handler(args) -> int``. That keeps
the core free of imports from ``trainers`` and ``integrations``.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TypedDict

import numpy as np
from tqdm.auto import tqdm

from sbert_plugins._atomic import staged_file
from sbert_plugins.device import PRECISION_SETTINGS
from sbert_plugins.errors import ConfigError, DataError, SbertPluginsError
from sbert_plugins.readers import read_jsonl, read_lines
from sbert_plugins.streaming import NpyWriter, chunked

PLUGIN_GROUP = "sbert_plugins.cli"
Handler = Callable[[argparse.Namespace], int]


def add_model_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_model: str | None = None,
    precisions: Sequence[str] = PRECISION_SETTINGS,
) -> None:
    """Options shared by every command that loads a :class:`SentenceEncoder`.

    ``precisions`` are the ``--precision`` choices: every encoder precision and ``auto`` by default; a command that
    trains passes the float ones (:data:`sbert_plugins.device.PRECISIONS`), as int8 is for inference only.
    """
    parser.add_argument("--model", default=default_model, help="model folder or Hub id (default: all-MiniLM-L6-v2)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (default: auto)")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=list(precisions),
        help="fp32 (default); bf16 (fast on recent CPUs and GPUs); fp16 (GPU); int8 (CPU, needs the [onnx] extra); "
        "auto (the fastest that keeps quality on this machine, decided from the device and CPU flags)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load pickled .bin weights (they can run code: only for models you trust)",
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the Python code a model folder ships (auto_map): only for models you trust",
    )


class ModelOptions(TypedDict):
    """Keyword arguments of ``SentenceEncoder`` set by :func:`add_model_arguments`."""

    allow_pickle: bool
    trust_remote_code: bool


def model_options(args: argparse.Namespace) -> ModelOptions:
    """The loading options of :func:`add_model_arguments` as keyword arguments of ``SentenceEncoder``."""
    return {
        "allow_pickle": bool(getattr(args, "allow_pickle", False)),
        "trust_remote_code": bool(getattr(args, "trust_remote_code", False)),
    }


def read_texts(path: Path, *, field: str = "text") -> list[str]:
    """Texts from a ``.txt`` file (one per line) or a ``.jsonl`` file (the ``field`` of each object)."""
    return list(iter_texts(path, field=field))


def iter_texts(path: Path, *, field: str = "text") -> Iterator[str]:
    """Like :func:`read_texts`, one text at a time (for files larger than memory).

    Raises:
        DataError: a missing or binary file, a line that is not UTF-8 (read by :mod:`sbert_plugins.readers`),
            or, in ``.jsonl``, not a JSON object with a string ``field``; each named by ``file:line``.
    """
    if path.suffix != ".jsonl":
        yield from read_lines(path)
        return
    for where, row in read_jsonl(path):
        if not isinstance(row.get(field), str):
            raise DataError(f"{where}: expected an object with a string field {field!r}")
        yield row[field]


def _load_encoder(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from sbert_plugins.encoder import SentenceEncoder

    return SentenceEncoder(args.model, device=args.device, precision=args.precision, **model_options(args))


def ranges_path(output: Path) -> Path:
    """Where ``encode`` writes the int8/uint8 ranges of ``output``: ``NAME.ranges.npy`` beside ``NAME.npy``."""
    return output.with_name(output.name.removesuffix(".npy") + ".ranges.npy")


def _cmd_encode(args: argparse.Namespace) -> int:
    from sbert_plugins.quantization import SCALED_PRECISIONS, ChunkQuantizer

    source = Path(args.input)
    given = np.load(args.ranges) if args.ranges is not None else None
    calibration_size = args.chunk_size if args.calibration_size is None else args.calibration_size
    quantize = ChunkQuantizer(args.output_precision, ranges=given, calibration_size=calibration_size)
    if given is None and args.output_precision in SCALED_PRECISIONS and calibration_size > args.chunk_size:
        raise ConfigError(
            f"--calibration-size ({args.calibration_size}) must be at most --chunk-size ({args.chunk_size}): "
            "the ranges come from the first chunk"
        )
    total = sum(1 for _ in iter_texts(source, field=args.field))  # a bad line fails here, before any work
    output = Path(args.output)
    if output.is_dir():
        raise ConfigError(f"-o {output} is a folder; pass a file name such as {output / 'embeddings.npy'}")
    if not output.parent.is_dir():
        raise ConfigError(f"-o {output}: the folder {output.parent} does not exist; create it first")
    model = _load_encoder(args)
    truncated = 0
    # Chunks are encoded and appended one at a time, so memory stays bounded for any file size; they go to
    # a temporary name unique to this run, which becomes the output's name only once complete and flushed.
    # int8/uint8 chunks share one scale.
    with (
        staged_file(output) as partial,
        NpyWriter(partial) as writer,
        tqdm(total=total, unit="text", disable=args.quiet) as bar,
    ):
        for chunk in chunked(iter_texts(source, field=args.field), args.chunk_size):
            floats = model.encode(
                chunk,
                batch_size=args.batch_size,
                normalize=args.normalize,
                prompt_name=args.prompt_name,
                show_progress=False,
            )
            writer.write(quantize(floats))
            truncated += model.last_truncated_count
            bar.update(len(chunk))
    print(f"wrote {writer.rows} embeddings of dimension {writer.dim} to {output}")
    if quantize.calibrated_on and quantize.ranges is not None:
        scale = ranges_path(output)
        with staged_file(scale) as pending, pending.open("wb") as handle:
            np.save(handle, quantize.ranges)
        print(
            f"{args.output_precision} ranges from the first {quantize.calibrated_on} texts (the calibration sample), "
            f"used for every chunk, written to {scale}: encode queries with --ranges {scale} to put them on this scale"
        )
    if truncated:
        print(f"{truncated} texts were truncated to {model.max_seq_length} tokens")
    return 0


def _cmd_similarity(args: argparse.Namespace) -> int:
    if len(args.sentences) < 2:
        raise DataError("similarity needs at least two sentences")
    model = _load_encoder(args)
    embeddings = model.encode(args.sentences)
    scores = model.similarity(embeddings, embeddings).numpy()
    print(f"similarity: {model.similarity_fn_name}")
    for i, sentence in enumerate(args.sentences):
        print(" ".join(f"{s:+.4f}" for s in scores[i]) + f"  [{i}] {sentence}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from sbert_plugins.modules import Pooling

    model = _load_encoder(args)
    pooling = next((m for m in model if isinstance(m, Pooling)), None)
    info = {
        "model": model.source,
        "embedding_dim": model.embedding_dim,
        "max_seq_length": model.max_seq_length,
        "pooling": list(pooling.modes) if pooling else None,
        "similarity_fn_name": model.similarity_fn_name,
        "prompts": model.prompts,
        "default_prompt_name": model.default_prompt_name,
        "modules": [type(m).__name__ for m in model],
        "precision": model.precision,
        "precision_reason": model.precision_reason,
    }
    print(json.dumps(info, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sbert-plugins", description="Sentence-BERT embeddings from the command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    encode = sub.add_parser("encode", help="embed texts from a .txt or .jsonl file into a .npy file")
    encode.add_argument("input", help=".txt (one text per line) or .jsonl file")
    encode.add_argument("-o", "--output", required=True, help="output .npy file")
    encode.add_argument("--field", default="text", help="JSONL field holding the text (default: text)")
    encode.add_argument("--batch-size", type=int, default=None, help="max texts per batch (default: token budget)")
    encode.add_argument("--chunk-size", type=int, default=10_000, help="texts read and written at a time")
    encode.add_argument("--normalize", action="store_true")
    encode.add_argument("--prompt-name", default=None)
    encode.add_argument(
        "--output-precision", default="float32", choices=["float32", "int8", "uint8", "binary", "ubinary"]
    )
    encode.add_argument(
        "--calibration-size",
        type=int,
        default=None,
        help="int8/uint8: each dimension's range comes from the first N texts and applies to every chunk; "
        "written beside the output as NAME.ranges.npy (default and most: --chunk-size)",
    )
    encode.add_argument(
        "--ranges", default=None, metavar="FILE", help="int8/uint8: quantize on these ranges (a .ranges.npy file)"
    )
    encode.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_arguments(encode)
    encode.set_defaults(handler=_cmd_encode)

    similarity = sub.add_parser("similarity", help="print the similarity matrix of two or more sentences")
    similarity.add_argument("sentences", nargs="+")
    add_model_arguments(similarity)
    similarity.set_defaults(handler=_cmd_similarity)

    info = sub.add_parser(
        "info", help="print a model's dimension, max length, pooling, similarity, prompts and precision"
    )
    add_model_arguments(info)
    info.set_defaults(handler=_cmd_info)

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            register = entry.load()
        except ImportError as exc:  # an optional extra is missing: the other commands still work
            logging.getLogger(__name__).debug("command %r unavailable: %s", entry.name, exc)
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input, with the reason on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except SbertPluginsError as exc:  # raised on purpose: bad input, config, model or integration errors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = storage_error_message(exc)
        if message is None:
            raise  # an unexpected failure keeps its traceback
        print(f"error: {message}", file=sys.stderr)
        return 2


def storage_error_message(exc: OSError) -> str | None:
    """A user-facing message for a full or read-only disk, or None for other OS errors."""
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the device{where}; free some space (or pick another output folder) and run the "
            "command again: nothing half-written was left under a final name"
        )
    if exc.errno == errno.EROFS:
        return f"read-only file system{where}; pick an output folder you can write to"
    return None


if __name__ == "__main__":
    sys.exit(main())
