"""The Hugging Face transformer at the bottom of every model: texts in, token embeddings out."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins.errors import ConfigError, UnsafeModelError
from sbert_plugins.hf_loading import transformers_io
from sbert_plugins.modules.padding import pad_rows

logger = logging.getLogger(__name__)

SBERT_CONFIG = "sentence_bert_config.json"


class Transformer(nn.Module):
    """Wraps a Hugging Face ``AutoModel`` and its tokenizer.

    Args:
        model: the transformer; its ``last_hidden_state`` becomes ``features["token_embeddings"]``.
        tokenizer: a fast or slow tokenizer of the same vocabulary.
        max_seq_length: longer inputs are truncated to this many tokens (special tokens included).
        do_lower_case: lower-case texts before tokenizing (for models trained that way).
    """

    st_type = "sentence_transformers.models.Transformer"
    auto_model_class: ClassVar[Any] = AutoModel
    """The ``transformers`` auto class :meth:`load` builds the model with (a subclass may pick a model head)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
    ) -> None:
        super().__init__()
        self.auto_model = model
        self.tokenizer = tokenizer
        self.do_lower_case = do_lower_case
        limit = _position_limit(model)
        self.max_seq_length = min(max_seq_length or limit, limit)
        self._uses_token_types = "token_type_ids" in tokenizer.model_input_names

    @property
    def embedding_dim(self) -> int:
        return int(self.auto_model.config.hidden_size)

    def forward(self, features: dict[str, Tensor], model: Callable[..., Any] | None = None) -> dict[str, Tensor]:
        """Add ``token_embeddings`` to ``features``; ``model`` runs in place of ``auto_model`` (e.g. a
        compiled version of it)."""
        inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        output = (self.auto_model if model is None else model)(**inputs, return_dict=True)
        features["token_embeddings"] = self.token_outputs(output)
        if getattr(self.auto_model.config, "output_hidden_states", False):
            features["all_layer_embeddings"] = output.hidden_states  # read by WeightedLayerPooling
        return features

    def token_outputs(self, output: Any) -> Tensor:
        """What the model's ``output`` gives per token: the last hidden state (a subclass may read a head's logits)."""
        return output.last_hidden_state  # type: ignore[no-any-return]

    def prepare(self, texts: list[str]) -> list[str]:
        return [t.lower() for t in texts] if self.do_lower_case else texts

    def token_ids(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        """Token ids of each text (special tokens included, no padding), truncated to ``max_seq_length``."""
        return hf_token_ids(self.tokenizer, self.prepare(texts), max_length=self.max_seq_length if truncate else None)

    def collate(self, ids: list[list[int]], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """Pad a batch of token id lists into ``input_ids``/``attention_mask`` (+ ``token_type_ids``)."""
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids, attention_mask = pad_rows(ids, pad_id=pad_id, left=self.tokenizer.padding_side == "left")
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self._uses_token_types:
            features["token_type_ids"] = torch.zeros_like(input_ids)
        return {k: v.to(device) for k, v in features.items()}

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        """Tokenize, truncate and pad ``texts`` into model inputs (CPU tensors)."""
        return self.collate(self.token_ids(texts))

    @transformers_io
    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.auto_model.save_pretrained(str(path), safe_serialization=True)
        self.tokenizer.save_pretrained(str(path))
        write_json(path / SBERT_CONFIG, self.sbert_config())

    def sbert_config(self) -> dict[str, Any]:
        """What ``sentence_bert_config.json`` records (not named ``get_config_dict``: that would enter, and so
        change, the fingerprint of every saved model)."""
        return {"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case}

    @classmethod
    @transformers_io
    def load(
        cls,
        path: Path,
        *,
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> Transformer:
        """Load the transformer stored in ``path`` (a Hugging Face model folder)."""
        settings = read_json(path / SBERT_CONFIG) if (path / SBERT_CONFIG).is_file() else {}
        check_weights_are_safe(path, allow_pickle=allow_pickle)
        config = load_config(path, trust_remote_code=trust_remote_code)
        kwargs: dict[str, Any] = {"attn_implementation": "sdpa", **(model_kwargs or {})}
        try:
            try:
                model = cls.load_model(
                    path,
                    config=config,
                    trust_remote_code=trust_remote_code,
                    use_safetensors=None if allow_pickle else True,  # safetensors first when both exist
                    **kwargs,
                )
            except (ValueError, ImportError) as exc:
                if "attn_implementation" in (model_kwargs or {}) or "sdpa" not in str(exc).lower():
                    raise
                kwargs.pop("attn_implementation")
                model = cls.load_model(
                    path,
                    config=config,
                    trust_remote_code=trust_remote_code,
                    use_safetensors=None if allow_pickle else True,  # safetensors first when both exist
                    **kwargs,
                )
        except pickle.UnpicklingError as exc:  # torch's weights-only loader met something that is not a tensor
            raise UnsafeModelError(
                f"{path}: the pickled weights hold objects other than tensors (code would run to load them), "
                "so they were not loaded; convert the model to safetensors from a trusted copy"
            ) from exc
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        max_len = settings.get("max_seq_length")
        if max_len is None:
            model_max = getattr(tokenizer, "model_max_length", None)
            max_len = model_max if isinstance(model_max, int) and model_max < 1_000_000 else None
        if max_len is not None and (not isinstance(max_len, int) or isinstance(max_len, bool) or max_len <= 0):
            raise ConfigError(f"{path / SBERT_CONFIG}: max_seq_length must be a positive integer, found {max_len!r}")
        return cls(model, tokenizer, max_seq_length=max_len, do_lower_case=bool(settings.get("do_lower_case", False)))

    @classmethod
    def load_model(cls, path: Path, **kwargs: Any) -> PreTrainedModel:
        """The Hugging Face model of ``path``, built with :attr:`auto_model_class` (``kwargs`` go to
        ``from_pretrained``)."""
        return cls.auto_model_class.from_pretrained(str(path), **kwargs)  # type: ignore[no-any-return]


def hf_token_ids(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], *, max_length: int | None, add_special_tokens: bool = True
) -> list[list[int]]:
    """Token ids of each text from a Hugging Face tokenizer, unpadded, cut to ``max_length`` (None: not cut)."""
    encoded = tokenizer(
        texts,
        add_special_tokens=add_special_tokens,
        truncation=max_length is not None,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    return list(encoded["input_ids"])


def load_config(path: Path, *, trust_remote_code: bool) -> Any:
    """The Hugging Face config of ``path``.

    Raises:
        UnsafeModelError: the folder needs its own Python code (``auto_map``) and ``trust_remote_code`` is off.
    """
    try:
        return AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except ValueError as exc:
        if trust_remote_code or "trust_remote_code" not in str(exc):
            raise
        raise UnsafeModelError(
            f"{path} needs the Python code it ships (auto_map in config.json) to load, and running it was not "
            "allowed; pass trust_remote_code=True (--trust-remote-code on the command line) if you trust this model"
        ) from exc


def check_weights_are_safe(path: Path, *, allow_pickle: bool) -> None:
    """Refuse a folder whose weights exist only as pickles, unless the caller opted in."""
    has_safetensors = any(path.glob("*.safetensors"))
    pickles = sorted(p.name for p in path.glob("*.bin") if "model" in p.name)
    if pickles and not has_safetensors and not allow_pickle:
        raise UnsafeModelError(
            f"{path} has only pickled weights ({', '.join(pickles)}), which can run code when loaded; "
            "pass allow_pickle=True (--allow-pickle on the command line) if you trust this model, "
            "or convert it to safetensors"
        )


def _position_limit(model: PreTrainedModel) -> int:
    limit = getattr(model.config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return 512
    # RoBERTa-style models offset positions by padding_idx + 1.
    if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert", "mpnet"}:
        return limit - 2
    return limit
