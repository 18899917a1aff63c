"""MLMTransformer: a Hugging Face masked-language model whose per-token vocabulary logits feed SPLADE pooling."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import Tensor
from transformers import AutoModelForMaskedLM, PreTrainedModel

from sbert_plugins.hf_loading import loads_are_quiet
from sbert_plugins.modules.transformer import Transformer

logger = logging.getLogger(__name__)


class MLMTransformer(Transformer):
    """A :class:`~sbert_plugins.modules.Transformer` with its masked-language-model head: ``token_embeddings``
    holds the head's logits, ``[batch, tokens, vocab_size]``.

    It loads the reference's ``MLMTransformer`` folders and its ``Transformer`` folders saved with
    ``"transformer_task": "fill-mask"`` (the layout sentence-transformers 5.4+ writes for SPLADE). It saves
    as ``sentence_transformers.sparse_encoder.models.MLMTransformer``, which every sentence-transformers
    release with sparse encoders loads.

    A checkpoint without an MLM head (e.g. a ``BertModel``) still loads: the head's transform layers start
    from a fresh initialisation and its decoder from the tied word embeddings; a warning names every
    parameter that was initialised fresh (held back inside :func:`~sbert_plugins.hf_loading.quiet_loads`).
    """

    st_type = "sentence_transformers.sparse_encoder.models.MLMTransformer"
    auto_model_class = AutoModelForMaskedLM

    @property
    def embedding_dim(self) -> int:
        """The size of the logits: the model's vocabulary size."""
        return int(self.auto_model.config.vocab_size)

    def token_outputs(self, output: Any) -> Tensor:
        """The MLM head's logits for each token."""
        return output.logits  # type: ignore[no-any-return]

    @classmethod
    def load_model(cls, path: Path, **kwargs: Any) -> PreTrainedModel:
        """The masked-LM model of ``path``; warns with the names of the parameters the checkpoint lacked."""
        model, info = AutoModelForMaskedLM.from_pretrained(str(path), output_loading_info=True, **kwargs)
        fresh = sorted(info.get("missing_keys") or [])
        if fresh and not loads_are_quiet():
            logger.warning(
                "%s has no masked-language-model head; these parameters were initialised fresh: %s",
                path,
                ", ".join(fresh),
            )
        return model  # type: ignore[no-any-return]
