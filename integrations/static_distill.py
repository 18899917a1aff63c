"""A StaticEmbedding model distilled from a local transformer model, corpus-free, through ``model2vec``.

    sbert-plugins distill-static --model MODEL_FOLDER --output OUT [--pca-dims 256] [--sif-coefficient 1e-4]

The method is model2vec's corpus-free distillation: every token of the model's own tokenizer
vocabulary is run through the transformer on its own (``[CLS] token [SEP]``), its output is mean-pooled
into one vector per token, the vectors are reduced with PCA, and each is weighted by SIF
(``a / (a + p)``) with ``p`` a Zipf's-law estimate of the token's frequency from its vocabulary rank (no
text corpus is read). The result is a ``StaticEmbedding`` whose tokenizer is the model's (without special
tokens); a ``Normalize`` follows when the source model normalizes. It needs ``pip install
"sbert-plugins[static]"``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from torch import nn

from sbert_plugins.cli import add_model_arguments
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError, missing_dependency
from sbert_plugins.modules import Normalize, StaticEmbedding


def distill_static(
    model: str | Path | SentenceEncoder,
    *,
    pca_dims: int | None = 256,
    sif_coefficient: float | None = 1e-4,
    device: str | None = None,
) -> SentenceEncoder:
    """A static-embedding encoder distilled from ``model`` (a folder, Hub id or encoder starting with a
    Transformer), keeping its similarity function and prompts.

    Args:
        pca_dims: the vector size after PCA (None: keep the model's size, no PCA).
        sif_coefficient: the SIF weight's ``a`` (None: no weighting); between 0 and 1.

    Raises:
        MissingDependencyError: ``model2vec`` is not installed.
        ConfigError: the model does not start with a Transformer, or a bad setting.
    """
    try:
        from model2vec.distill import distill_from_model
    except ImportError as exc:
        raise missing_dependency("model2vec", "static") from exc
    if pca_dims is not None and pca_dims < 1:
        raise ConfigError(f"pca_dims must be a positive integer or None, found {pca_dims!r}")
    if sif_coefficient is not None and not 0 < sif_coefficient < 1:
        raise ConfigError(f"sif_coefficient must lie between 0 and 1 (exclusive), found {sif_coefficient!r}")
    source = model if isinstance(model, SentenceEncoder) else SentenceEncoder(model, device="cpu")
    transformer = source.transformer
    if pca_dims is not None and pca_dims > transformer.embedding_dim:
        raise ConfigError(f"pca_dims={pca_dims} exceeds the model's dimension {transformer.embedding_dim}")
    static_model = distill_from_model(
        model=transformer.auto_model,
        tokenizer=transformer.tokenizer,  # type: ignore[arg-type]
        device=device,
        pca_dims=pca_dims,
        sif_coefficient=sif_coefficient,
        quantize_to="float32",
    )
    weights = np.asarray(static_model.embedding, dtype=np.float32)
    if static_model.token_mapping is not None:
        weights = weights[np.asarray(static_model.token_mapping)]
    if static_model.weights is not None:
        weights = weights * np.asarray(static_model.weights, dtype=np.float32)[:, None]
    modules: list[nn.Module] = [StaticEmbedding(static_model.tokenizer, embedding_weights=weights)]
    if any(isinstance(m, Normalize) for m in source):
        modules.append(Normalize())
    return SentenceEncoder(
        modules=modules,
        device="cpu",
        prompts=source.prompts,
        default_prompt_name=source.default_prompt_name,
        similarity_fn_name=source.similarity_fn_name,
    )


def _cmd_distill_static(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(f"{output} exists and is not empty; choose a new --output folder")
    encoder = distill_static(
        args.model or "all-MiniLM-L6-v2",
        pca_dims=None if args.pca_dims == 0 else args.pca_dims,
        sif_coefficient=None if args.sif_coefficient == 0 else args.sif_coefficient,
        device=args.device,
    )
    partial = output.with_name(output.name + ".partial")
    if partial.exists():
        raise ConfigError(f"{partial} exists (an interrupted run?); remove it or choose another --output")
    try:
        encoder.save(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # only what this command wrote
        raise
    if output.exists():  # an empty folder the user made: fill it, leave it in place
        for child in partial.iterdir():
            child.rename(output / child.name)
        partial.rmdir()
    else:
        partial.rename(output)
    vocabulary = encoder.input_module.tokenizer.get_vocab_size()
    print(f"wrote a StaticEmbedding model ({vocabulary} tokens x {encoder.embedding_dim} dimensions) to {output}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``distill-static`` to the ``sbert-plugins`` command line."""
    parser = subparsers.add_parser(
        "distill-static",
        help="distill a fast StaticEmbedding model from a transformer model (corpus-free, needs [static])",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
    )
    parser.add_argument("--output", required=True, help="new folder for the static model")
    parser.add_argument("--pca-dims", type=int, default=256, help="vector size after PCA (0: no PCA; default 256)")
    parser.add_argument(
        "--sif-coefficient", type=float, default=1e-4, help="SIF weighting's a (0: no weighting; default 1e-4)"
    )
    add_model_arguments(parser, precisions=("fp32",))
    parser.set_defaults(handler=_cmd_distill_static)
