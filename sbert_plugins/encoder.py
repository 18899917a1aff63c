"""SentenceEncoder: a chain of modules (Transformer, Pooling, [Dense], [Normalize]) that turns texts
into fixed-size embeddings, loaded from and saved to the sentence-transformers folder format."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import transformers
from torch import Tensor, nn
from tqdm.auto import tqdm

from sbert_plugins import __version__
from sbert_plugins._jsonio import write_json
from sbert_plugins.batching import batches, length_sorted_order, restore_order
from sbert_plugins.device import (
    EncoderPrecision,
    check_encoder_precision,
    intra_op_threads,
    precision_dtype,
    resolve_device,
    resolve_num_threads,
)
from sbert_plugins.errors import ConfigError
from sbert_plugins.fingerprint import FingerprintCache, module_facts
from sbert_plugins.loading import (
    DEFAULT_MODEL,
    MODEL_CONFIG_FILE,
    SIMILARITY_FUNCTIONS,
    HubOptions,
    ModelSettings,
    load_modules,
    read_settings,
    resolve_model_path,
    save_modules,
)
from sbert_plugins.modules import Dense, Pooling, Transformer
from sbert_plugins.onnx_backend import OnnxInt8Transformer
from sbert_plugins.per_thread import PerThread
from sbert_plugins.quantization import OutputPrecision, quantize_embeddings
from sbert_plugins.similarity import similarity_function
from sbert_plugins.streaming import chunked
from sbert_plugins.validation import check_texts

logger = logging.getLogger(__name__)

# Progress bars appear by default only for inputs at least this long.
PROGRESS_BAR_MIN_TEXTS = 2048
# Default batch shape: fill each batch up to this many padded tokens (short texts go in big
# batches, long texts in small ones), with at most MAX_TEXTS_PER_BATCH texts.
DEFAULT_TOKENS_PER_BATCH = 8192
MAX_TEXTS_PER_BATCH = 512


class SentenceEncoder(nn.Sequential):
    """Turns texts into embeddings with a Sentence-BERT model.

    Args:
        model_name_or_path: a local sentence-transformers (or plain Hugging Face) folder, or a Hub id;
            default: ``sentence-transformers/all-MiniLM-L6-v2`` (works offline through its packaged copy).
        modules: build from these modules instead of loading (the first must be a :class:`Transformer`).
        device: ``"auto"`` (default: cuda, then mps, then cpu), ``"cpu"``, ``"cuda:0"``, ...
        precision: how :meth:`encode` computes (embeddings are returned as float32 in every mode):

            - ``"fp32"`` (default).
            - ``"bf16"``: weights converted to bfloat16 (faster than autocast when measured). On CPUs
              with AMX or AVX512-BF16 about 1.4x fp32; per-row cosine to fp32 above 0.999.
            - ``"fp16"``: weights converted to float16, for GPUs. On CPU it runs, but slowly on long
              texts (0.6x fp32 on SciFact abstracts on a Sapphire Rapids CPU): use ``"bf16"`` there.
            - ``"int8"``: CPU only, through ONNX Runtime (``pip install "sbert-plugins[onnx]"``): the
              transformer is exported once, fused and quantized to int8 (dynamic, per channel; the
              feed-forward down-projections stay float32 for accuracy) and cached on disk, keyed by the
              weights (see :mod:`sbert_plugins.onnx_backend`). Chosen over PyTorch's dynamic int8,
              which loses more accuracy on all-MiniLM-L6-v2 (per-row cosine to fp32 down to 0.91).
              Activation scales are computed per batch, so a text's embedding varies slightly with its
              batch. Only :meth:`encode` uses it; calling the model on features (training) runs the fp32
              weights, and the int8 copy keeps the weights it was made from: after training, build a
              new encoder from the saved model to encode in int8.

        compile_model: run :meth:`encode`'s transformer through ``torch.compile`` (dynamic shapes),
            which fuses the element-wise work (GELU, layer norm, residual adds) around the matrix
            products. The first call compiles (about a minute on 2 CPU cores; needs a C++ compiler on
            CPU); later calls reuse it. Worth it for large corpora: with ``"bf16"`` on a 2-core CPU with
            AMX, SciFact abstracts encoded 1.15x faster than with ``"bf16"`` alone (``benchmarks/encode.py``).
            Not with ``"int8"``.
        num_threads: intra-op CPU threads while encoding. Default: ``$SBERT_PLUGINS_NUM_THREADS`` if set,
            else torch's own setting, lowered to the CPUs this process may use (CPU affinity and cgroup
            quota) when it is higher. The count is set for the duration of each :meth:`encode` call and
            restored after it; the process-wide setting is never changed otherwise.
        prompts, default_prompt_name, similarity_fn_name: override what the model's config says.
        truncate_dim: keep only the first ``truncate_dim`` dimensions (Matryoshka models).
        cache_dir, revision, token, local_files_only: how to reach the Hugging Face cache and Hub.
        trust_remote_code: allow models whose code lives in their repository (off by default).
        allow_pickle: allow pickled ``.bin`` weights (off by default: safetensors only).

    Calling the encoder on ``features`` (from :meth:`tokenize`) returns them with
    ``token_embeddings`` and ``sentence_embedding`` added; :meth:`encode` returns arrays.
    """

    last_truncated_count = PerThread(0)
    """How many texts the last :meth:`encode` call of the reading thread truncated to ``max_seq_length``
    (per thread: another thread's call in between does not change what this thread reads)."""

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        modules: Sequence[nn.Module] | None = None,
        device: str | torch.device | None = None,
        precision: EncoderPrecision = "fp32",
        compile_model: bool = False,
        num_threads: int | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        truncate_dim: int | None = None,
        cache_dir: str | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if modules is not None and model_name_or_path is not None:
            raise ConfigError("pass either model_name_or_path or modules, not both")
        precision = check_encoder_precision(precision)
        resolve_num_threads(num_threads)  # validates
        target = resolve_device(device)
        if precision == "int8" and target.type != "cpu":
            raise ConfigError(f"precision='int8' runs on CPU only, but device is {target}; use 'fp16' or 'bf16' there")
        if compile_model and precision == "int8":
            raise ConfigError("compile_model=True compiles the PyTorch transformer; precision='int8' runs ONNX Runtime")
        settings = ModelSettings()
        self.source: str | None = None
        if modules is None:
            name = str(model_name_or_path) if model_name_or_path is not None else DEFAULT_MODEL
            hub = HubOptions(cache_dir=cache_dir, revision=revision, token=token, local_files_only=local_files_only)
            folder = resolve_model_path(name, hub, allow_pickle=allow_pickle)
            modules = load_modules(
                folder, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, model_kwargs=model_kwargs
            )
            settings = read_settings(folder)
            self.source = name
        if not modules or not isinstance(modules[0], Transformer):
            raise ConfigError("the first module of a SentenceEncoder must be a Transformer")
        super().__init__(*modules)

        self.prompts: dict[str, str] = dict(settings.prompts if prompts is None else prompts)
        self.default_prompt_name = (
            default_prompt_name if default_prompt_name is not None else settings.default_prompt_name
        )
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ConfigError(
                f"default_prompt_name {self.default_prompt_name!r} is not among the prompts {sorted(self.prompts)}"
            )
        self.similarity_fn_name = similarity_fn_name or settings.similarity_fn_name
        if self.similarity_fn_name not in SIMILARITY_FUNCTIONS:
            raise ConfigError(f"similarity_fn_name {self.similarity_fn_name!r} is not one of {SIMILARITY_FUNCTIONS}")
        self.truncate_dim = _check_truncate_dim(truncate_dim, self._full_dim())
        self.precision: EncoderPrecision = precision
        self.num_threads = num_threads
        self._fingerprints = FingerprintCache()
        self.to(target)
        if precision in ("fp16", "bf16"):
            self._fingerprints.pin(self, self._identity_facts, lambda: self.to(precision_dtype(precision)))
        self._int8 = OnnxInt8Transformer(self.transformer) if precision == "int8" else None
        self.compile_model = compile_model
        self._compiled: Callable[..., Any] | None = None  # made on first use; not pickled
        self.eval()  # ready for inference; a trainer calls .train()

    # ---- model facts -------------------------------------------------------------------------

    @property
    def transformer(self) -> Transformer:
        return self[0]  # type: ignore[return-value]

    @property
    def tokenizer(self) -> Any:
        return self.transformer.tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def max_seq_length(self) -> int:
        return self.transformer.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.transformer.max_seq_length = value

    def _full_dim(self) -> int:
        dim = self.transformer.embedding_dim
        for module in self:
            if isinstance(module, Pooling):
                dim = module.output_dim
            elif isinstance(module, Dense):
                dim = module.out_features
        return dim

    @property
    def embedding_dim(self) -> int:
        """Size of the embeddings :meth:`encode` returns (``truncate_dim`` applied), read from config."""
        full = self._full_dim()
        return min(full, self.truncate_dim) if self.truncate_dim else full

    @property
    def fingerprint(self) -> str:
        """A short digest of the weights, module configurations, tokenizer and output settings (prompts,
        similarity function, ``truncate_dim``): equal for the same model files wherever they lie and in any
        precision, different after any training step. Collections record it to know which model wrote them."""
        return self._fingerprints.get(self, self._identity_facts)

    def _identity_facts(self) -> dict[str, Any]:
        return {
            "modules": [module_facts(module) for module in self],
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
            "truncate_dim": self.truncate_dim,
        }

    def similarity(self, a: Any, b: Any) -> Tensor:
        """Pairwise scores between embeddings ``a`` and ``b`` with the model's similarity function."""
        return similarity_function(self.similarity_fn_name)(a, b)

    # ---- encoding ----------------------------------------------------------------------------

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        """Tokenize, truncate and pad ``texts`` into model inputs (CPU tensors)."""
        return self.transformer.tokenize(texts)

    def encode(
        self,
        sentences: str | Sequence[str],
        *,
        batch_size: int | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        normalize: bool = False,
        truncate_dim: int | None = None,
        output_precision: OutputPrecision = "float32",
        ranges: np.ndarray | None = None,
        calibration_embeddings: np.ndarray | None = None,
        convert_to: Literal["numpy", "torch"] = "numpy",
        show_progress: bool | None = None,
        max_tokens_per_batch: int | None = None,
    ) -> Any:
        """Embed one text (1-D result) or a sequence of texts (2-D result, in input order).

        Args:
            batch_size: at most this many texts per forward pass (default: as many as fit the token budget).
            prompt_name: the name of a prompt stored with the model (e.g. ``"query"``), prepended to each text.
            prompt: a prompt string to prepend (overrides ``prompt_name``).
            normalize: scale embeddings to unit length.
            truncate_dim: keep the first ``truncate_dim`` dimensions (overrides the model's setting).
            output_precision: ``float32`` or a quantized form (``int8``, ``uint8``, ``binary``, ``ubinary``).
            ranges: for ``int8``/``uint8``: each dimension's ``[min, max]``, shape ``(2, dim)`` (see
                :func:`~sbert_plugins.quantization.calibration_ranges`), so that every call quantizes on one
                scale (a corpus in chunks, its queries later). Default: the range of this call's embeddings.
            calibration_embeddings: for ``int8``/``uint8``: float embeddings to take the ranges from
                instead (ignored when ``ranges`` is given).
            convert_to: ``"numpy"`` (default) for an ``np.ndarray`` or ``"torch"`` for a CPU tensor.
            show_progress: progress bar; by default only for long inputs.
            max_tokens_per_batch: token budget of a batch (texts x longest length); texts are sorted
                by token length first, so batches carry little padding. Default: 8192.

        Raises:
            TypeError: an element is not a string (the message names its index and type).
        """
        single = isinstance(sentences, str)
        texts = check_texts([sentences] if single else sentences)  # type: ignore[list-item]
        for name, value in (("batch_size", batch_size), ("max_tokens_per_batch", max_tokens_per_batch)):
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"{name} must be a positive integer, found {value!r}")
        if convert_to not in ("numpy", "torch"):
            raise ConfigError(f"convert_to must be 'numpy' or 'torch', found {convert_to!r}")
        if (ranges is not None or calibration_embeddings is not None) and output_precision not in ("int8", "uint8"):
            raise ConfigError(
                f"ranges and calibration_embeddings apply to output_precision 'int8' or 'uint8', "
                f"not {output_precision!r}"
            )
        dim = _check_truncate_dim(truncate_dim, self._full_dim()) or self.truncate_dim

        prompt_text = self._resolve_prompt(prompt_name, prompt)
        if prompt_text:
            texts = [prompt_text + t for t in texts]
        embeddings = self._embed(
            texts,
            batch_size or MAX_TEXTS_PER_BATCH,
            prompt_text,
            show_progress,
            max_tokens_per_batch or DEFAULT_TOKENS_PER_BATCH,
        )
        if dim:
            embeddings = embeddings[:, :dim]
        if normalize:
            embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)

        if output_precision != "float32" or convert_to == "numpy":
            result: Any = quantize_embeddings(
                embeddings.numpy(),
                output_precision,
                ranges=ranges,
                calibration_embeddings=calibration_embeddings,
            )
            if convert_to == "torch":
                result = torch.from_numpy(result)
        else:
            result = embeddings
        return result[0] if single else result

    def encode_stream(self, texts: Iterable[str], *, chunk_size: int = 10_000, **kwargs: Any) -> Iterator[Any]:
        """Encode an iterable of any length chunk by chunk, yielding one 2-D result per chunk.

        Only ``chunk_size`` texts and their embeddings are in memory at a time; ``kwargs`` are those of
        :meth:`encode`. Pair it with :class:`~sbert_plugins.streaming.NpyWriter` to write to disk.
        """
        for chunk in chunked(texts, chunk_size):
            yield self.encode(chunk, **kwargs)

    def encode_queries(self, queries: str | Sequence[str], **kwargs: Any) -> Any:
        """:meth:`encode` with the model's ``"query"`` prompt (if it has one)."""
        return self.encode(queries, prompt_name="query" if "query" in self.prompts else None, **kwargs)

    def encode_documents(self, documents: str | Sequence[str], **kwargs: Any) -> Any:
        """:meth:`encode` with the model's ``"document"`` prompt (if it has one)."""
        return self.encode(documents, prompt_name="document" if "document" in self.prompts else None, **kwargs)

    def _resolve_prompt(self, prompt_name: str | None, prompt: str | None) -> str:
        if prompt is not None:
            return prompt
        name = prompt_name if prompt_name is not None else self.default_prompt_name
        if name is None:
            return ""
        if name not in self.prompts:
            raise ConfigError(f"prompt_name {name!r} is not among the model's prompts {sorted(self.prompts)}")
        return self.prompts[name]

    def _embed(
        self,
        texts: list[str],
        batch_size: int,
        prompt_text: str,
        show_progress: bool | None,
        max_tokens: int,
    ) -> Tensor:
        """Float32 CPU embeddings of ``texts`` in input order."""
        if not texts:
            return torch.empty((0, self._full_dim()), dtype=torch.float32)
        transformer = self.transformer
        ids = transformer.token_ids(texts)
        self.last_truncated_count = self._count_truncated(texts, ids)
        lengths = [len(row) for row in ids]
        order = length_sorted_order(lengths)
        prompt_length = len(transformer.token_ids([prompt_text])[0]) - 1 if prompt_text else None

        if show_progress is None:
            show_progress = len(texts) >= PROGRESS_BAR_MIN_TEXTS
        device = self.device
        outputs: list[Tensor] = []
        # Flip to eval mode only when needed: an encoder used for inference stays in eval mode, so
        # concurrent encode calls never race on the flag.
        was_training = self.training
        if was_training:
            self.eval()
        threads = resolve_num_threads(self.num_threads) if device.type == "cpu" else None
        try:
            with (
                intra_op_threads(threads),
                torch.inference_mode(),
                tqdm(total=len(texts), desc="Encoding", unit="text", disable=not show_progress) as bar,
            ):
                for batch in batches(order, lengths, batch_size=batch_size, max_tokens=max_tokens):
                    features = transformer.collate([ids[i] for i in batch], device)
                    if prompt_length is not None:
                        features["prompt_length"] = torch.tensor(prompt_length)
                    embedding = self._infer(features, threads)["sentence_embedding"]
                    outputs.append(embedding.float().cpu())
                    bar.update(len(batch))
        finally:
            if was_training:
                self.train()
        sorted_embeddings = torch.cat(outputs)
        return sorted_embeddings[torch.from_numpy(restore_order(order))]

    def _infer(self, features: dict[str, Tensor], threads: int | None) -> dict[str, Tensor]:
        """The forward pass of :meth:`encode`: through the int8 or the compiled transformer when asked."""
        if self._int8 is not None:
            features = self._int8(features, threads)
        elif self.compile_model:
            if self._compiled is None:
                # Kept out of the module tree (object.__setattr__), so state_dict and save() never see it.
                object.__setattr__(self, "_compiled", torch.compile(self.transformer.auto_model, dynamic=True))
            features = self.transformer(features, model=self._compiled)
        else:
            return self(features)  # type: ignore[no-any-return]
        for module in list(self)[1:]:
            features = module(features)
        return features

    def __getstate__(self) -> dict[str, Any]:
        self.fingerprint  # noqa: B018 - refreshed, so the copy can trust it (see FingerprintCache)
        state = self.__dict__.copy()
        state["_compiled"] = None  # a compiled callable does not pickle; the copy compiles again
        return state

    def _count_truncated(self, texts: list[str], ids: list[list[int]]) -> int:
        limit = self.transformer.max_seq_length
        at_limit = [i for i, row in enumerate(ids) if len(row) >= limit]
        if not at_limit:
            return 0
        full = self.transformer.token_ids([texts[i] for i in at_limit], truncate=False)
        count = sum(1 for row in full if len(row) > limit)
        if count:
            logger.warning(
                "%d of %d texts were longer than max_seq_length=%d tokens and were truncated",
                count,
                len(texts),
                limit,
            )
        return count

    # ---- saving ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the model as a sentence-transformers folder (safetensors weights) at ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        save_modules(list(self), folder)
        settings = ModelSettings(
            prompts=self.prompts,
            default_prompt_name=self.default_prompt_name,
            similarity_fn_name=self.similarity_fn_name,
        )
        versions = {
            "sbert_plugins": __version__,
            "transformers": transformers.__version__,
            "pytorch": torch.__version__,
        }
        write_json(folder / MODEL_CONFIG_FILE, settings.to_json(versions))


def _check_truncate_dim(truncate_dim: int | None, full_dim: int) -> int | None:
    if truncate_dim is None:
        return None
    if not isinstance(truncate_dim, int) or isinstance(truncate_dim, bool) or not 0 < truncate_dim <= full_dim:
        raise ConfigError(f"truncate_dim must be an integer from 1 to {full_dim}, found {truncate_dim!r}")
    return truncate_dim
