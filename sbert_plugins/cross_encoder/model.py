"""CrossEncoder: scores text pairs by reading both texts at once through a sequence-classification
transformer; used to re-rank the candidates a bi-encoder retrieved."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeGuard

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from sbert_plugins._atomic import save_folder_atomically
from sbert_plugins.batching import batches, length_sorted_order, pass_cost_tokens, restore_order
from sbert_plugins.cpu_fusion import fuse_linear_layers
from sbert_plugins.cross_encoder._files import ACTIVATIONS, Activation, inspect_folder, load_classifier, save_folder
from sbert_plugins.cross_encoder._pairs import EncodedPairs, PairTokenizer, check_pairs
from sbert_plugins.device import Precision, precision_dtype, resolve_device
from sbert_plugins.errors import ConfigError
from sbert_plugins.fingerprint import FingerprintCache, module_facts
from sbert_plugins.loading import HubOptions, resolve_model_path
from sbert_plugins.modules.transformer import _position_limit
from sbert_plugins.per_thread import PerThread
from sbert_plugins.validation import check_texts

logger = logging.getLogger(__name__)

# Progress bars appear by default only for inputs at least this long (the encoder's threshold).
PROGRESS_BAR_MIN_PAIRS = 2048
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class CrossEncoder(nn.Module):
    """Scores ``(first, second)`` text pairs with a transformer that reads both texts together.

    Args:
        model_name_or_path: a cross-encoder folder (sentence-transformers >= 6 layout, or a plain Hugging
            Face ``*ForSequenceClassification`` folder), an encoder checkpoint (a sentence-transformers
            embedding model such as the packaged all-MiniLM-L6-v2, or a bare ``AutoModel`` folder) that
            gets a freshly initialised head, or a Hub id. Resolved like :class:`SentenceEncoder` names.
        num_labels: outputs of a new head (default 1); for a trained head it must match (or stay unset).
        max_length: pairs longer than this many tokens are truncated (default: the folder's setting,
            capped at the model's position limit).
        device: ``"auto"`` (default), ``"cpu"``, ``"cuda:0"``, ...
        activation: applied to the logits by :meth:`predict` and :meth:`rank`; default: the folder's
            setting, else ``"sigmoid"`` for one label and ``"identity"`` for more (as the reference does).
        precision: ``"fp32"`` (default), ``"fp16"`` or ``"bf16"`` weights; scores are returned as float32.
            On CPU, fp32 and bf16 run oneDNN's fused linear kernels (see :mod:`sbert_plugins.cpu_fusion`).
        cache_dir, revision, token, local_files_only: how to reach the Hugging Face cache and Hub.
        trust_remote_code: allow models whose code lives in their repository (off by default).
        allow_pickle: allow pickled ``.bin`` weights (off by default: safetensors only).
        model_kwargs: passed to ``AutoModelForSequenceClassification.from_pretrained``.

    A new head is initialised from torch's random generator: call ``torch.manual_seed`` first for a
    reproducible one. Calling the module on ``features`` (from :meth:`tokenize`) returns the raw
    logits, shape ``(batch, num_labels)``, with gradients: losses train through that.

    Raises:
        ModelNotFoundError, UnsafeModelError, ConfigError: as for :class:`SentenceEncoder`.
    """

    last_truncated_count = PerThread(0)
    """How many pairs the last :meth:`predict` (or :meth:`rank`) call of the reading thread truncated to
    ``max_length`` (per thread: another thread's call in between does not change what this thread reads)."""

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        num_labels: int | None = None,
        max_length: int | None = None,
        device: str | torch.device | None = None,
        activation: Activation | None = None,
        precision: Precision = "fp32",
        cache_dir: str | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if num_labels is not None and (not _is_int(num_labels) or num_labels <= 0):
            raise ConfigError(f"num_labels must be a positive integer, found {num_labels!r}")
        _check_activation(activation, allow_none=True)
        name = str(model_name_or_path)
        hub = HubOptions(cache_dir=cache_dir, revision=revision, token=token, local_files_only=local_files_only)
        folder = resolve_model_path(name, hub, allow_pickle=allow_pickle)
        layout = inspect_folder(folder)
        self.model, self.tokenizer = load_classifier(
            layout,
            num_labels=num_labels,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
            model_kwargs=model_kwargs,
        )
        self.source = name
        self.has_trained_head = layout.has_head
        """False when the classification head was freshly initialised (train it before use)."""
        self._pairs = PairTokenizer(self.tokenizer)
        self._position_limit = _position_limit(self.model)
        self.max_length = max_length if max_length is not None else self._default_max_length(layout.max_seq_length)
        self.activation: Activation = activation or layout.activation or self._default_activation()
        self.precision = precision
        self._fingerprints = FingerprintCache()
        target = resolve_device(device)
        self.to(target)
        if precision != "fp32":
            self._fingerprints.pin(self, self._identity_facts, lambda: self.to(precision_dtype(precision)))
        if precision in ("fp32", "bf16") and target.type == "cpu":
            fuse_linear_layers(self.model)  # bias and GELU inside oneDNN's product kernels

    # ---- model facts -------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """A short digest of the weights, configuration, tokenizer, ``max_length`` and activation: equal for the
        same files wherever they lie and in any precision, different after any training step."""
        return self._fingerprints.get(self, self._identity_facts)

    def _identity_facts(self) -> dict[str, Any]:
        return {"module": module_facts(self), "max_length": self.max_length, "activation": self.activation}

    @property
    def num_labels(self) -> int:
        """Number of scores per pair (the classifier's outputs)."""
        labels = self.model.config.num_labels
        return int(labels) if labels is not None else 1

    @property
    def max_length(self) -> int:
        """Pairs longer than this many tokens (special tokens included) are truncated."""
        return self._max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        low = self._pairs.min_length()
        if not _is_int(value) or not low <= value <= self._position_limit:
            raise ConfigError(
                f"max_length must be an integer from {low} to {self._position_limit} (the model's position limit), "
                f"found {value!r}"
            )
        self._max_length = value

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _default_max_length(self, configured: Any) -> int:
        if configured is not None:
            if not _is_int(configured):
                raise ConfigError(f"{self.source}: max_seq_length must be an integer, found {configured!r}")
            return min(int(configured), self._position_limit)
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if _is_int(model_max) and 0 < model_max < 1_000_000:
            return min(int(model_max), self._position_limit)
        return self._position_limit

    def _default_activation(self) -> Activation:
        return "sigmoid" if self.num_labels == 1 else "identity"

    # ---- training interface ------------------------------------------------------------------

    def tokenize(self, pairs: Iterable[Sequence[str]]) -> dict[str, Tensor]:
        """Tokenize, truncate and pad ``pairs`` into model inputs (CPU tensors) for :meth:`forward`.

        Raises:
            TypeError: an element is not a pair of two strings (the message names its index).
        """
        checked = check_pairs(pairs)
        encoded = self._pairs.encode(checked, self.max_length)
        return self._pairs.collate(encoded, range(len(checked)))

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """Raw logits, shape ``(batch, num_labels)``, of the tokenized pairs in ``features``."""
        inputs = {k: features[k] for k in _MODEL_INPUTS if k in features}
        return self.model(**inputs, return_dict=True).logits

    # ---- inference ---------------------------------------------------------------------------

    def predict(
        self,
        pairs: Iterable[Sequence[str]],
        *,
        batch_size: int = 32,
        activation: Activation | None = None,
        show_progress: bool | None = None,
        convert_to: Literal["numpy", "torch"] = "numpy",
    ) -> Any:
        """Score each pair; results are in input order.

        Args:
            pairs: ``(first, second)`` string pairs, e.g. ``[(query, document), ...]``.
            batch_size: at most this many pairs per forward pass (pairs are sorted by token length first).
            activation: ``"sigmoid"``, ``"softmax"`` (over the labels) or ``"identity"`` (raw logits);
                default: the model's :attr:`activation`.
            show_progress: progress bar; by default only for long inputs.
            convert_to: ``"numpy"`` (default) for an ``np.ndarray`` or ``"torch"`` for a CPU tensor.

        Returns:
            float32 scores: shape ``(n,)`` for a one-label model, ``(n, num_labels)`` otherwise; an empty
            input gives an empty result of that shape.

        Raises:
            TypeError: an element is not a pair of two strings (the message names its index).
            ConfigError: an invalid ``batch_size``, ``activation`` or ``convert_to``.
        """
        checked = check_pairs(pairs)
        if not _is_int(batch_size) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive integer, found {batch_size!r}")
        _check_activation(activation, allow_none=True)
        if convert_to not in ("numpy", "torch"):
            raise ConfigError(f"convert_to must be 'numpy' or 'torch', found {convert_to!r}")

        logits = self._logits(checked, batch_size, show_progress)
        scores = _activate(logits, activation or self.activation)
        if self.num_labels == 1:
            scores = scores.reshape(-1)
        return scores.numpy() if convert_to == "numpy" else scores

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        activation: Activation | None = None,
        show_progress: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Score ``documents`` against ``query`` and return them best first.

        Returns:
            ``[{"corpus_id": index in documents, "score": float[, "text": document]}, ...]`` sorted by
            score, highest first (ties keep input order); at most ``top_k`` records (all when ``None``).

        Raises:
            TypeError: ``query`` or a document is not a string (the message names its index).
            ConfigError: ``top_k`` is not a positive integer, or the model has more than one label.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, found {type(query).__name__}")
        docs = check_texts(documents)
        if top_k is not None and (not _is_int(top_k) or top_k <= 0):
            raise ConfigError(f"top_k must be a positive integer or None (all documents), found {top_k!r}")
        if self.num_labels != 1:
            raise ConfigError(
                f"rank needs a model with one score per pair, this one has num_labels={self.num_labels}; "
                "use predict and pick the label you want"
            )
        scores = self.predict(
            [(query, d) for d in docs], batch_size=batch_size, activation=activation, show_progress=show_progress
        )
        order = np.argsort(-scores, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        records: list[dict[str, Any]] = []
        for i in order.tolist():
            record: dict[str, Any] = {"corpus_id": i, "score": float(scores[i])}
            if return_documents:
                record["text"] = docs[i]
            records.append(record)
        return records

    def _logits(self, pairs: list[tuple[str, str]], batch_size: int, show_progress: bool | None) -> Tensor:
        """Float32 CPU logits of ``pairs`` in input order, shape ``(n, num_labels)``."""
        if not pairs:
            self.last_truncated_count = 0
            return torch.empty((0, self.num_labels), dtype=torch.float32)
        encoded = self._encode(pairs)
        lengths = [len(row) for row in encoded.input_ids]
        order = length_sorted_order(lengths)
        if show_progress is None:
            show_progress = len(pairs) >= PROGRESS_BAR_MIN_PAIRS
        device = self.device
        outputs: list[Tensor] = []
        was_training = self.training
        self.eval()
        try:
            with (
                torch.inference_mode(),
                tqdm(total=len(pairs), desc="Scoring", unit="pair", disable=not show_progress) as bar,
            ):
                pass_cost = pass_cost_tokens(device.type, self.model.dtype)
                for batch in batches(order, lengths, batch_size=batch_size, pass_cost=pass_cost):
                    features = self._pairs.collate(encoded, batch.tolist())
                    logits = self({k: v.to(device) for k, v in features.items()})
                    outputs.append(logits.float().cpu())
                    bar.update(len(batch))
        finally:
            self.train(was_training)
        return torch.cat(outputs)[torch.from_numpy(restore_order(order))]

    def _encode(self, pairs: list[tuple[str, str]]) -> EncodedPairs:
        encoded = self._pairs.encode(pairs, self.max_length)
        self.last_truncated_count = encoded.truncated
        if encoded.truncated:
            logger.warning(
                "%d of %d pairs were longer than max_length=%d tokens and were truncated",
                encoded.truncated,
                len(pairs),
                self.max_length,
            )
        return encoded

    # ---- saving ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the model at ``path`` as a cross-encoder folder (safetensors weights) that this class and
        the reference sentence-transformers ``CrossEncoder`` (any version) load with the same scores."""
        save_folder_atomically(
            Path(path),
            lambda folder: save_folder(
                self.model, self.tokenizer, folder, activation=self.activation, max_length=self.max_length
            ),
        )


def _activate(logits: Tensor, activation: Activation) -> Tensor:
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    if activation == "softmax":
        return torch.softmax(logits, dim=-1)
    return logits


def _check_activation(activation: Any, *, allow_none: bool) -> None:
    if activation is None and allow_none:
        return
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {ACTIVATIONS} (or None for the model's), found {activation!r}")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
