"""SparseEncoder: texts → sparse vectors over a vocabulary (SPLADE, inference-free SPLADE) or over learned
latents (CSR), loaded from and saved to the sentence-transformers ``SparseEncoder`` folder format."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sbert_plugins._jsonio import read_json
from sbert_plugins.device import EncoderPrecision
from sbert_plugins.encoder import SentenceEncoder, check_batch_options
from sbert_plugins.errors import ConfigError
from sbert_plugins.loading import MODEL_CONFIG_FILE, MODULES_FILE, HubOptions, resolve_model_path
from sbert_plugins.modules.router import Router
from sbert_plugins.sparse.build import splade_modules
from sbert_plugins.sparse.decode import decode_rows
from sbert_plugins.sparse.rows import check_max_active_dims, keep_top_k
from sbert_plugins.sparse.sparse_auto_encoder import MAX_ACTIVE_DIMS_KEY, SparseAutoEncoder
from sbert_plugins.sparse.sparse_static_embedding import SparseStaticEmbedding
from sbert_plugins.sparse.splade_pooling import SpladeActivation, SpladePooling, SpladePoolingStrategy
from sbert_plugins.validation import check_texts

logger = logging.getLogger(__name__)

SPARSE_OUTPUT_MODULES = (SpladePooling, SparseStaticEmbedding, SparseAutoEncoder)


class SparseEncoder(SentenceEncoder):
    """Turns texts into sparse embeddings with a SPLADE, inference-free SPLADE or CSR model.

    It is a :class:`~sbert_plugins.SentenceEncoder` with a sparse output: name resolution, prompts, token-budget
    batching, devices, threads, ``tokenize``, ``forward`` (``sentence_embedding`` is a dense
    ``[batch, embedding_dim]`` tensor: the training path), :attr:`fingerprint` and :meth:`save` are the dense
    encoder's; :meth:`encode` returns sparse tensors.

    Args:
        model_name_or_path: a sentence-transformers ``SparseEncoder`` folder or Hub id. A plain Hugging Face folder
            (no ``modules.json``) becomes SPLADE, as with :meth:`from_transformer` (with a warning).
        modules: build from these modules instead (e.g. ``[MLMTransformer, SpladePooling]``, or one Router).
        device: ``"auto"``, ``"cpu"``, ``"cuda:0"``, ...
        precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"`` (weights converted; vectors come back float32).
            ``"int8"`` does not apply (its ONNX export covers dense transformers only).
        max_active_dims: keep at most this many non-zeros per vector (the largest); default: the saved setting
            (for CSR models the auto-encoder's ``k``), else all.
        compile_model, num_threads, prompts, default_prompt_name, cache_dir, revision, token, local_files_only,
        trust_remote_code, allow_pickle, model_kwargs: as for :class:`~sbert_plugins.SentenceEncoder`.
        similarity_fn_name: ``"dot"`` (default) or ``"cosine"``.

    Raises:
        ConfigError: no model given, a folder that is not a sparse model (the message names the file), an
            unsupported precision, or an invalid ``max_active_dims``.
    """

    model_type: ClassVar[str] = "SparseEncoder"

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        modules: Sequence[nn.Module] | None = None,
        device: str | torch.device | None = None,
        precision: EncoderPrecision = "fp32",
        max_active_dims: int | None = None,
        compile_model: bool = False,
        num_threads: int | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        cache_dir: str | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if precision == "int8":
            raise ConfigError("precision='int8' does not apply to a SparseEncoder; use 'fp32', 'bf16' or 'fp16'")
        if modules is not None and model_name_or_path is not None:
            raise ConfigError("pass either model_name_or_path or modules, not both")
        if modules is None and model_name_or_path is None:
            raise ConfigError("a SparseEncoder needs a model folder or Hub id, or modules")
        check_max_active_dims(max_active_dims)
        saved: dict[str, Any] = {}
        folder: Path | None = None
        if modules is None:
            hub = HubOptions(cache_dir=cache_dir, revision=revision, token=token, local_files_only=local_files_only)
            folder = resolve_model_path(str(model_name_or_path), hub, allow_pickle=allow_pickle)
            if (folder / MODULES_FILE).is_file():
                saved = _read_sparse_config(folder)
            else:
                logger.warning("%s has no %s: building SPLADE from its masked-LM model", folder, MODULES_FILE)
                modules = splade_modules(folder, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
                folder = None
        # Set before the dense encoder's set-up, which may fingerprint the model (bf16/fp16) and so read it.
        self.max_active_dims: int | None = max_active_dims or check_max_active_dims(saved.get("max_active_dims"))
        super().__init__(
            folder,
            modules=modules,
            device=device,
            precision=precision,
            compile_model=compile_model,
            num_threads=num_threads,
            prompts=prompts,
            default_prompt_name=default_prompt_name,
            similarity_fn_name=similarity_fn_name or saved.get("similarity_fn_name") or "dot",
            local_files_only=local_files_only,
            trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle,
            model_kwargs=model_kwargs,
        )
        self.source = None if model_name_or_path is None else str(model_name_or_path)
        where = folder / MODULES_FILE if folder is not None else "the modules given"
        if not _ends_sparse(list(self)):
            raise ConfigError(
                f"{where}: the model does not end in a sparse module (SpladePooling, SparseStaticEmbedding or "
                "SparseAutoEncoder), so it is not a sparse model; load a dense model with SentenceEncoder, or build "
                "SPLADE from it with SparseEncoder.from_transformer"
            )
        if self.similarity_fn_name not in ("dot", "cosine"):
            raise ConfigError(f"a SparseEncoder scores by 'dot' or 'cosine', not {self.similarity_fn_name!r}")
        self.max_active_dims = self._effective_max_active_dims()

    @classmethod
    def from_transformer(
        cls,
        path: str | Path,
        *,
        pooling: SpladePoolingStrategy = "max",
        activation: SpladeActivation = "relu",
        inference_free: bool = False,
        query_weights: Tensor | None = None,
        device: str | None = None,
        precision: EncoderPrecision = "fp32",
    ) -> SparseEncoder:
        """A SPLADE model built offline from the local Hugging Face model in ``path``.

        The checkpoint's MLM head is used when it has one; otherwise the head's transform starts fresh and
        its decoder from the tied word embeddings (a warning names the fresh parameters). ``inference_free``
        gives the reference's inference-free layout: a Router whose query side is a :class:`SparseStaticEmbedding`
        (``query_weights``, default 1 for every token) and whose document side (the default route) is SPLADE.

        Raises:
            ConfigError: ``path`` is not a folder, or an invalid pooling, activation or ``query_weights``.
        """
        modules = splade_modules(
            path, pooling=pooling, activation=activation, inference_free=inference_free, query_weights=query_weights
        )
        return cls(modules=modules, device=device, precision=precision)

    # ---- model facts -------------------------------------------------------------------------

    @property
    def is_inference_free(self) -> bool:
        """Whether queries skip the transformer: a Router whose ``"query"`` route is a SparseStaticEmbedding."""
        first = self[0]
        return (
            isinstance(first, Router)
            and "query" in first.routes
            and any(isinstance(m, SparseStaticEmbedding) for m in first.chain(first.route_for("query")))
        )

    @property
    def vocab_size(self) -> int:
        """The size of the vocabulary space vectors live in: :attr:`embedding_dim` for SPLADE models; for CSR
        models (latent dimensions, not tokens) the tokenizer's vocabulary size."""
        if self._is_autoencoder:
            return len(self.tokenizer)
        return self.embedding_dim

    @property
    def _is_autoencoder(self) -> bool:
        return any(isinstance(m, SparseAutoEncoder) for m in self.modules())

    def _effective_max_active_dims(self) -> int | None:
        """The setting, else a CSR model's ``k`` (as the reference defaults it), else None."""
        autoencoder = next((m for m in self.modules() if isinstance(m, SparseAutoEncoder)), None)
        return self.max_active_dims or (autoencoder.k if autoencoder is not None else None)

    def _identity_facts(self) -> dict[str, Any]:
        return {**super()._identity_facts(), "max_active_dims": self._effective_max_active_dims()}

    # ---- encoding ----------------------------------------------------------------------------

    def encode(  # type: ignore[override]
        self,
        sentences: str | Sequence[str],
        *,
        task: str | None = None,
        batch_size: int | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        max_active_dims: int | None = None,
        convert_to_sparse_tensor: bool = True,
        show_progress_bar: bool | None = False,
        max_tokens_per_batch: int | None = None,
    ) -> Tensor:
        """Embed one text (a 1-D tensor) or a sequence of texts (2-D, ``[n, embedding_dim]``, in input order).

        Args:
            task: the route of a model with a Router (``"query"``, ``"document"``); :meth:`encode_queries` and
                :meth:`encode_documents` pass theirs; None takes the default route (documents).
            batch_size, max_tokens_per_batch: the batch shape, as in :meth:`SentenceEncoder.encode`.
            prompt_name, prompt: a saved prompt by name, or a literal one, prepended to each text.
            max_active_dims: keep only this many largest values per vector (default: :attr:`max_active_dims`).
            convert_to_sparse_tensor: True (default): a coalesced sparse COO float32 CPU tensor; False: dense.
            show_progress_bar: a progress bar (None: only for long inputs).

        Raises:
            TypeError: an element is not a string.
            ConfigError: an invalid ``max_active_dims``, batch option or prompt name.
        """
        single = isinstance(sentences, str)
        texts = check_texts([sentences] if single else sentences)  # type: ignore[list-item]
        check_batch_options(batch_size, max_tokens_per_batch)
        k = check_max_active_dims(max_active_dims) or self.max_active_dims
        embeddings = self._embed_prompted(
            texts,
            batch_size=batch_size,
            prompt_name=prompt_name,
            prompt=prompt,
            show_progress=show_progress_bar,
            max_tokens_per_batch=max_tokens_per_batch,
            task=task,
            extra_features={MAX_ACTIVE_DIMS_KEY: k} if k is not None else None,
        )
        embeddings = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
        result = embeddings[0].coalesce() if single else embeddings
        return result if convert_to_sparse_tensor else result.to_dense()

    def _batch_result(self, embedding: Tensor, features: dict[str, Any]) -> Tensor:
        """Each batch is cut to ``max_active_dims`` and kept sparse, so a corpus never sits in memory densely."""
        return keep_top_k(embedding.float(), features.get(MAX_ACTIVE_DIMS_KEY)).to_sparse().cpu()

    # ---- reading vectors ---------------------------------------------------------------------

    def similarity(self, a: Any, b: Any) -> Tensor:
        """Scores between the rows of ``a`` and ``b`` (sparse or dense, 1-D or 2-D): a dense ``[len(a), len(b)]``
        tensor of dot products (cosine when ``similarity_fn_name`` is ``"cosine"``)."""
        left, right = _as_rows(a), _as_rows(b)
        if self.similarity_fn_name == "cosine":
            left, right = _unit_rows(left), _unit_rows(right)
        if left.is_sparse or right.is_sparse:
            return torch.sparse.mm(left if left.is_sparse else left.to_sparse(), right.t()).to_dense()
        return left @ right.t()

    def decode(self, embeddings: Tensor, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """The tokens each vector weighs, with their weights, highest first (one list per row; at most ``top_k``).

        Raises:
            ConfigError: a CSR model (its dimensions are learned latents, not tokens), or an invalid ``top_k``.
        """
        if self._is_autoencoder:
            raise ConfigError("decode reads vocabulary dimensions; a CSR model's dimensions are latents, not tokens")
        return decode_rows(embeddings, self.tokenizer, top_k)

    # ---- saving ------------------------------------------------------------------------------

    def _model_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = {**config, "model_type": self.model_type}
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config


def _read_sparse_config(folder: Path) -> dict[str, Any]:
    """``config_sentence_transformers.json`` of ``folder`` (empty when absent); the dense encoder's set-up
    checks its ``model_type``."""
    path = folder / MODEL_CONFIG_FILE
    return read_json(path) if path.is_file() else {}


def _ends_sparse(modules: list[nn.Module]) -> bool:
    """Whether a chain (every route of a leading Router) ends in a module with sparse output."""
    last = modules[-1]
    if isinstance(last, Router) and len(modules) == 1:
        return all(isinstance(last.chain(route)[-1], SPARSE_OUTPUT_MODULES) for route in last.routes)
    return isinstance(last, SPARSE_OUTPUT_MODULES)


def _as_rows(x: Any) -> Tensor:
    tensor = x if isinstance(x, Tensor) else torch.as_tensor(x)
    tensor = tensor.float()
    return tensor.unsqueeze(0) if tensor.dim() == 1 else tensor


def _unit_rows(x: Tensor) -> Tensor:
    dense = x.to_dense() if x.is_sparse else x
    return torch.nn.functional.normalize(dense, p=2, dim=1)
