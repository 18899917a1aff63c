"""SentenceEncoder: a chain of modules (Transformer, Pooling, [Dense], [Normalize]) that turns texts
into fixed-size embeddings, loaded from and saved to the sentence-transformers folder format."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import transformers
from torch import Tensor, nn
from tqdm.auto import tqdm

from sbert_plugins import __version__
from sbert_plugins._atomic import save_folder_atomically
from sbert_plugins._jsonio import write_json
from sbert_plugins.allocator import keep_freed_memory, release_excess_freed_memory
from sbert_plugins.batching import batches, length_sorted_order, pass_cost_tokens, restore_order
from sbert_plugins.cpu_fusion import fuse_linear_layers
from sbert_plugins.device import (
    EncoderPrecision,
    PrecisionSetting,
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
    check_model_type,
    load_modules,
    read_settings,
    resolve_model_path,
    save_modules,
)
from sbert_plugins.modules import Router, Transformer
from sbert_plugins.modules.chain import InputModule, chain_output_dim, is_input_module
from sbert_plugins.onnx_backend import OnnxInt8Transformer
from sbert_plugins.per_thread import PerThread
from sbert_plugins.precision_choice import choose_precision
from sbert_plugins.quantization import OutputPrecision, quantize_embeddings
from sbert_plugins.similarity import similarity_function
from sbert_plugins.streaming import chunked
from sbert_plugins.validation import check_texts

logger = logging.getLogger(__name__)

# A token covers at most this many characters in the texts worth reading in full; longer texts are first
# cut at a word boundary past ``max_seq_length`` times this (checked, and read whole when it does not hold).
CHARS_PER_TOKEN_BOUND = 32
_SPACE = re.compile(r"\s")


def head_of(text: str, chars: int) -> str:
    """``text`` itself when at most ``chars`` long; else its start, cut where a run of white space begins
    (so every token of the start is a token of the whole text), or at ``chars`` when no space is near."""
    if len(text) <= chars:
        return text
    window = text[chars // 2 : chars]
    spaces = [m.start() for m in _SPACE.finditer(window)]
    if not spaces:
        return text[:chars]
    cut = chars // 2 + spaces[-1]
    while cut > 0 and text[cut - 1].isspace():
        cut -= 1
    return text[:cut]


# Progress bars appear by default only for inputs at least this long.
PROGRESS_BAR_MIN_TEXTS = 2048
# Default batch shape: at most this many padded tokens per batch (short texts go in big batches,
# long texts in small ones), with at most MAX_TEXTS_PER_BATCH texts; on a CPU, cut further by length.
DEFAULT_TOKENS_PER_BATCH = 8192
MAX_TEXTS_PER_BATCH = 512


class SentenceEncoder(nn.Sequential):
    """Turns texts into embeddings with a Sentence-BERT model.

    Args:
        model_name_or_path: a local sentence-transformers (or plain Hugging Face) folder, or a Hub id;
            default: ``sentence-transformers/all-MiniLM-L6-v2`` (works offline through its packaged copy).
        modules: build from these modules instead of loading (the first must tokenize: a :class:`Transformer`,
            :class:`~sbert_plugins.modules.StaticEmbedding`, :class:`~sbert_plugins.modules.Router`, ...).
        device: ``"auto"`` (default: cuda, then mps, then cpu), ``"cpu"``, ``"cuda:0"``, ...
        precision: how :meth:`encode` computes (embeddings are returned as float32 in every mode):

            - ``"fp32"`` (default). On CPU the transformer's linear layers run oneDNN's fused kernels
              (bias and GELU inside the product, see :mod:`sbert_plugins.cpu_fusion`), within rounding of the
              plain layers (reference parity holds).
            - ``"auto"``: the fastest of the modes below that keeps quality on this device and CPU (decided
              from the CPU's flags, see :mod:`sbert_plugins.precision_choice`): ``"bf16"`` on CPUs with
              AMX-BF16 or AVX512-BF16 and on CUDA GPUs with bfloat16, ``"fp16"`` on other CUDA GPUs, else
              ``"fp32"``. :attr:`precision` holds the mode chosen, :attr:`precision_reason` why; both are
              logged at INFO level.
            - ``"bf16"``: weights converted to bfloat16 (faster than autocast when measured); per-row cosine
              to fp32 above 0.999. On CPU with the same fused kernels as fp32.
            - ``"fp16"``: weights converted to float16, for GPUs. On CPU it runs, no faster than fp32 (the
              README's benchmark figures): use ``"bf16"`` there.
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
            CPU); later calls reuse it. The compiled graph traces the plain linear layers, so on CPU in
            ``"bf16"`` it can be slower than the fused kernels of the uncompiled model (the README's roofline
            table says by how much). Not with ``"int8"``.
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

    model_type: ClassVar[str] = "SentenceTransformer"
    """The ``model_type`` of the sentence-transformers folders this class loads (others are refused)."""

    last_truncated_count = PerThread(0)
    """How many texts the last :meth:`encode` call of the reading thread truncated to ``max_seq_length``
    (per thread: another thread's call in between does not change what this thread reads)."""

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        modules: Sequence[nn.Module] | None = None,
        device: str | torch.device | None = None,
        precision: PrecisionSetting = "fp32",
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
        requested = check_encoder_precision(precision)
        resolve_num_threads(num_threads)  # validates
        target = resolve_device(device)
        if requested == "int8" and target.type != "cpu":
            raise ConfigError(f"precision='int8' runs on CPU only, but device is {target}; use 'fp16' or 'bf16' there")
        if compile_model and requested == "int8":
            raise ConfigError("compile_model=True compiles the PyTorch transformer; precision='int8' runs ONNX Runtime")
        settings = ModelSettings()
        self.source: str | None = None
        if modules is None:
            name = str(model_name_or_path) if model_name_or_path is not None else DEFAULT_MODEL
            hub = HubOptions(cache_dir=cache_dir, revision=revision, token=token, local_files_only=local_files_only)
            folder = resolve_model_path(name, hub, allow_pickle=allow_pickle)
            check_model_type(folder, self.model_type)
            modules = load_modules(
                folder, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, model_kwargs=model_kwargs
            )
            settings = read_settings(folder)
            self.source = name
        if not modules or not is_input_module(modules[0]):
            raise ConfigError(
                "the first module of a SentenceEncoder must tokenize texts (Transformer, StaticEmbedding, Router, ...)"
            )
        precision, reason = _resolve_precision(requested, target, modules[0])
        if (precision == "int8" or compile_model) and not isinstance(modules[0], Transformer):
            raise ConfigError(
                "precision='int8' and compile_model=True need a model whose first module is a Transformer"
            )
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
        """The mode :meth:`encode` computes in (what ``"auto"`` resolved to, when it was asked for)."""
        self.precision_reason = reason
        """Why :attr:`precision` was chosen: ``"asked for"``, or ``"auto: "`` and the device or CPU flag."""
        self.num_threads = num_threads
        self._fingerprints = FingerprintCache()
        self.to(target)
        if precision in ("fp16", "bf16"):
            self._fingerprints.pin(self, self._identity_facts, lambda: self.to(precision_dtype(precision)))
        if precision in ("fp32", "bf16") and target.type == "cpu" and isinstance(self[0], Transformer):
            fuse_linear_layers(self.transformer.auto_model)  # bias and GELU inside oneDNN's product kernels
        self._int8 = OnnxInt8Transformer(self.transformer) if precision == "int8" else None
        self.compile_model = compile_model
        self._compiled: Callable[..., Any] | None = None  # made on first use; not pickled
        self.eval()  # ready for inference; a trainer calls .train()

    # ---- model facts -------------------------------------------------------------------------

    @property
    def transformer(self) -> Transformer:
        """The first module, when it is a :class:`Transformer` (ConfigError otherwise)."""
        if not isinstance(self[0], Transformer):
            raise ConfigError(f"this model starts with a {type(self[0]).__name__}, not a Transformer")
        return self[0]

    @property
    def input_module(self) -> InputModule:
        """The first module: it tokenizes (a Transformer, StaticEmbedding, Router, ...)."""
        return self[0]  # type: ignore[return-value]

    def _input_for(self, task: str | None) -> InputModule:
        """The module that tokenizes for ``task``: a Router's route's first module, else the first module."""
        first = self[0]
        return first.input_module(task) if isinstance(first, Router) else self.input_module

    @property
    def tokenizer(self) -> Any:
        return self.input_module.tokenizer

    @property
    def device(self) -> torch.device:
        # A bag-of-words model has no parameters: it runs where its buffers are, or on the CPU.
        tensor: Tensor | None = next(self.parameters(), None)
        if tensor is None:
            tensor = next(self.buffers(), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def _weights_dtype(self) -> torch.dtype:
        """The dtype of the model's floating-point weights (float32 when it has none)."""
        return next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)

    @property
    def max_seq_length(self) -> int | None:
        """Texts are truncated to this many tokens; None for models that read whole texts (StaticEmbedding)."""
        return self.input_module.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.input_module.max_seq_length = value  # type: ignore[misc]

    def _full_dim(self) -> int:
        return chain_output_dim(list(self))

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
            # Every module of ours, nested ones too (a Router's branches): each with its config and tokenizer.
            "modules": [
                module_facts(module)
                for module in self.modules()
                if module is not self and (hasattr(module, "get_config_dict") or hasattr(module, "tokenizer"))
            ],
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
            "truncate_dim": self.truncate_dim,
        }

    def similarity(self, a: Any, b: Any) -> Tensor:
        """Pairwise scores between embeddings ``a`` and ``b`` with the model's similarity function."""
        return similarity_function(self.similarity_fn_name)(a, b)

    # ---- encoding ----------------------------------------------------------------------------

    def tokenize(self, texts: list[str], *, task: str | None = None) -> dict[str, Any]:
        """Tokenize, truncate and pad ``texts`` into model inputs (CPU tensors).

        ``task`` (``"query"``, ``"document"``, ...) picks a Router's route and is kept in ``features["task"]``
        for its forward pass; models without a Router ignore it.
        """
        features: dict[str, Any] = self._input_for(task).tokenize(texts)
        if isinstance(self[0], Router) and task is not None:
            features["task"] = task
        return features

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
        task: str | None = None,
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
                by token length first, so batches carry little padding. Default: 8192. On a CPU a batch is
                also cut where the texts get shorter, wherever one pass more costs less than the padding
                it saves (:func:`~sbert_plugins.batching.batches`).
            task: the route of a model with a :class:`~sbert_plugins.modules.Router` (``"query"``,
                ``"document"``, ...). None, the default, takes the Router's default route, as the reference's
                ``encode`` does; :meth:`encode_queries` and :meth:`encode_documents` pass their task.

        Raises:
            TypeError: an element is not a string (the message names its index and type).
        """
        single = isinstance(sentences, str)
        texts = check_texts([sentences] if single else sentences)  # type: ignore[list-item]
        check_batch_options(batch_size, max_tokens_per_batch)
        if convert_to not in ("numpy", "torch"):
            raise ConfigError(f"convert_to must be 'numpy' or 'torch', found {convert_to!r}")
        if (ranges is not None or calibration_embeddings is not None) and output_precision not in ("int8", "uint8"):
            raise ConfigError(
                f"ranges and calibration_embeddings apply to output_precision 'int8' or 'uint8', "
                f"not {output_precision!r}"
            )
        dim = _check_truncate_dim(truncate_dim, self._full_dim()) or self.truncate_dim

        embeddings = self._embed_prompted(
            texts,
            batch_size=batch_size,
            prompt_name=prompt_name,
            prompt=prompt,
            show_progress=show_progress,
            max_tokens_per_batch=max_tokens_per_batch,
            task=task,
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
        """:meth:`encode` with the model's ``"query"`` prompt (if it has one) and task (a Router's query route)."""
        kwargs.setdefault("task", "query")
        return self.encode(queries, prompt_name="query" if "query" in self.prompts else None, **kwargs)

    def encode_documents(self, documents: str | Sequence[str], **kwargs: Any) -> Any:
        """:meth:`encode` with the model's ``"document"`` prompt (if it has one) and task (a Router's document
        route)."""
        kwargs.setdefault("task", "document")
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

    def _embed_prompted(
        self,
        texts: list[str],
        *,
        batch_size: int | None,
        prompt_name: str | None,
        prompt: str | None,
        show_progress: bool | None,
        max_tokens_per_batch: int | None,
        task: str | None,
        extra_features: dict[str, Any] | None = None,
    ) -> Tensor:
        """:meth:`_embed` of ``texts`` with the prompt resolved and prepended and the default batch shape filled in."""
        prompt_text = self._resolve_prompt(prompt_name, prompt)
        if prompt_text:
            texts = [prompt_text + t for t in texts]
        return self._embed(
            texts,
            batch_size or MAX_TEXTS_PER_BATCH,
            prompt_text,
            show_progress,
            max_tokens_per_batch or DEFAULT_TOKENS_PER_BATCH,
            task,
            extra_features,
        )

    def _embed(
        self,
        texts: list[str],
        batch_size: int,
        prompt_text: str,
        show_progress: bool | None,
        max_tokens: int,
        task: str | None = None,
        extra_features: dict[str, Any] | None = None,
    ) -> Tensor:
        """Float32 CPU embeddings of ``texts`` in input order (each batch shaped by :meth:`_batch_result`);
        ``extra_features`` are added to every batch's features (settings a module reads in its forward pass)."""
        if not texts:
            return torch.empty((0, self._full_dim()), dtype=torch.float32)
        transformer = self._input_for(task)
        ids, self.last_truncated_count = self._token_ids(transformer, texts)
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
        if device.type == "cpu":
            keep_freed_memory()
        try:
            with (
                intra_op_threads(threads),
                torch.inference_mode(),
                tqdm(total=len(texts), desc="Encoding", unit="text", disable=not show_progress) as bar,
            ):
                pass_cost = pass_cost_tokens(device.type, self._weights_dtype())
                for batch in batches(order, lengths, batch_size=batch_size, max_tokens=max_tokens, pass_cost=pass_cost):
                    features = transformer.collate([ids[i] for i in batch], device)
                    if prompt_length is not None:
                        features["prompt_length"] = torch.tensor(prompt_length)
                    if task is not None and isinstance(self[0], Router):
                        features["task"] = task  # type: ignore[assignment]
                    features.update(extra_features or {})
                    embedding = self._infer(features, threads)["sentence_embedding"]
                    outputs.append(self._batch_result(embedding, features))
                    bar.update(len(batch))
        finally:
            if was_training:
                self.train()
        if device.type == "cpu":
            release_excess_freed_memory()  # new batch shapes fragment what malloc keeps: bound it
        sorted_embeddings = torch.cat(outputs)
        return sorted_embeddings.index_select(0, torch.from_numpy(restore_order(order)))

    def _batch_result(self, embedding: Tensor, features: dict[str, Any]) -> Tensor:
        """One batch's embeddings as :meth:`_embed` collects them: float32 on the CPU (a subclass may read the
        batch's ``features`` to shape them)."""
        return embedding.float().cpu()

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

    def _token_ids(self, transformer: InputModule, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids of ``texts`` truncated to ``max_seq_length``, and how many texts were longer.

        A text far longer than the model reads is tokenized only up to a word boundary past what
        ``max_seq_length`` tokens can cover: a megabyte-long text costs no more than a page.
        """
        limit = transformer.max_seq_length
        if limit is None:  # a model that reads any length (e.g. static embeddings) truncates nothing
            return transformer.token_ids(texts), 0
        heads = [head_of(text, limit * CHARS_PER_TOKEN_BOUND) for text in texts]
        ids = transformer.token_ids(heads)
        at_limit = [i for i, row in enumerate(ids) if len(row) >= limit]
        count = 0
        if at_limit:
            untruncated = transformer.token_ids([heads[i] for i in at_limit], truncate=False)
            for i, row in zip(at_limit, untruncated, strict=True):
                if len(row) > limit:  # the head alone is too long, so the whole text is: same first tokens
                    count += 1
                elif heads[i] is not texts[i]:  # cut, and the head does not settle it: read the whole text
                    ids[i], longer = _whole_text_ids(transformer, texts[i], limit)
                    count += longer
        for i in [i for i, head in enumerate(heads) if head is not texts[i] and len(ids[i]) < limit]:
            ids[i], longer = _whole_text_ids(transformer, texts[i], limit)  # mostly blank: the head held too few
            count += longer
        if count:
            logger.warning(
                "%d of %d texts were longer than max_seq_length=%d tokens and were truncated",
                count,
                len(texts),
                limit,
            )
        return ids, count

    # ---- saving ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the model as a sentence-transformers folder (safetensors weights) at ``path``."""
        save_folder_atomically(Path(path), self._write_folder)

    def _write_folder(self, folder: Path) -> None:
        # Written into a staging folder first: a crash leaves each file of ``path`` old or new, never half.
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
        write_json(folder / MODEL_CONFIG_FILE, self._model_config(settings.to_json(versions)))

    def _model_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config_sentence_transformers.json`` as written (a subclass adds its model type and settings)."""
        return config


def check_batch_options(batch_size: int | None, max_tokens_per_batch: int | None) -> None:
    """Raise :class:`ConfigError` unless each of ``batch_size`` and ``max_tokens_per_batch`` is None or positive."""
    for name, value in (("batch_size", batch_size), ("max_tokens_per_batch", max_tokens_per_batch)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ConfigError(f"{name} must be a positive integer, found {value!r}")


def _resolve_precision(
    requested: PrecisionSetting, device: torch.device, first: nn.Module
) -> tuple[EncoderPrecision, str]:
    """The precision to compute in and why: ``requested`` itself, or what ``"auto"`` picks (logged)."""
    if requested != "auto":
        return requested, "asked for"
    choice = choose_precision(device, runs_transformer=isinstance(first, Transformer))
    logger.info("precision='auto' chose %r on %s: %s", choice.precision, device, choice.reason)
    return choice.precision, f"auto: {choice.reason}"


def _whole_text_ids(transformer: InputModule, text: str, limit: int) -> tuple[list[int], int]:
    full = transformer.token_ids([text], truncate=False)[0]
    return transformer.token_ids([text])[0], int(len(full) > limit)


def _check_truncate_dim(truncate_dim: int | None, full_dim: int) -> int | None:
    if truncate_dim is None:
        return None
    if not isinstance(truncate_dim, int) or isinstance(truncate_dim, bool) or not 0 < truncate_dim <= full_dim:
        raise ConfigError(f"truncate_dim must be an integer from 1 to {full_dim}, found {truncate_dim!r}")
    return truncate_dim
