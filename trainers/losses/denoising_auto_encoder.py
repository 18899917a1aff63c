"""DenoisingAutoEncoderLoss (TSDAE): a decoder rebuilds each sentence from the embedding of a damaged copy.

Also the data side: :func:`delete_words` (the noise) and :func:`denoising_pairs` (rows from unlabelled
sentences).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import AutoModelForCausalLM, PreTrainedModel

from sbert_plugins.cross_encoder import CrossEncoder
from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError, DataError
from sbert_plugins.hf_loading import transformers_io
from trainers.losses._base import features_to_device
from trainers.losses._checks import flag
from trainers.losses._feature_checks import check_feature_columns

DELETION_RATIO = 0.6


class DenoisingAutoEncoderLoss(nn.Module):
    """Cross-entropy of a decoder that reconstructs the original sentence from the damaged copy's embedding.

    The model embeds the damaged sentence; a transformer decoder (the encoder's architecture and
    size, causal self-attention plus cross-attention whose only key is that one sentence embedding)
    predicts the original sentence's tokens one by one. The loss is the token-level cross-entropy
    (padding ignored). The only route from the damaged input to the reconstruction is the sentence
    embedding, so it must hold the sentence's content.

    The decoder is a Hugging Face causal-LM model (``AutoModelForCausalLM``, e.g. ``BertLMHeadModel``)
    built from the encoder's config with ``is_decoder`` and ``add_cross_attention``. With
    ``tie_encoder_decoder`` (the default, as in the paper) every decoder weight that has an encoder
    counterpart of the same name *is* that encoder parameter (embeddings, self-attention,
    feed-forward layers; the output projection shares the word embeddings), so only the
    cross-attention and the LM-head transform are new (randomly initialised). The decoder lives on
    the loss and is discarded after training; the trained model is the encoder alone.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained; its sentence embedding must
            have the transformer's hidden size (no Dense layer changing it).
        tie_encoder_decoder: share the decoder's weights with the encoder (default True). False gives
            the decoder its own copy of the encoder's weights.

    Inputs:
        ==========================  ======
        columns                     label
        ==========================  ======
        (damaged, original)         none
        ==========================  ======

        Build the rows from unlabelled sentences with :func:`denoising_pairs` (deletion noise,
        ratio 0.6, as in the paper). The original is tokenised with the model's own tokenizer.

    Reference:
        Wang, Reimers & Gurevych, "TSDAE: Using Transformer-based Sequential Denoising Auto-Encoder for
        Unsupervised Sentence Embedding Learning", Findings of EMNLP 2021, https://arxiv.org/abs/2104.06979.

    Relations:
        :class:`ContrastiveTensionLossInBatchNegatives` is the other unsupervised loss here. TSDAE
        works best with CLS pooling and a learning rate around 3e-5; after domain adaptation,
        fine-tune on labelled pairs with e.g. :class:`MultipleNegativesRankingLoss`.

    Example:
        ::

            from trainers.losses.denoising_auto_encoder import denoising_pairs

            rows = denoising_pairs(sentences, seed=0)  # {"damaged": ..., "original": ...}
            loss = losses.DenoisingAutoEncoderLoss(model)
            trainer = Trainer(model, loss=loss, train_data=rows, config=TrainingConfig(learning_rate=3e-5))
    """

    min_columns = 2
    max_columns = 2
    columns = "(damaged, original)"

    def __init__(self, model: SentenceEncoder, *, tie_encoder_decoder: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(model, CrossEncoder) or not isinstance(getattr(model, "transformer", None), nn.Module):
            raise TypeError(f"{name} trains a SentenceEncoder (a Transformer first), found {type(model).__name__}")
        self.model = model
        self.tie_encoder_decoder = flag(name, "tie_encoder_decoder", tie_encoder_decoder)
        encoder: PreTrainedModel = model.transformer.auto_model
        hidden = int(encoder.config.hidden_size)
        if model.embedding_dim != hidden:
            raise ConfigError(
                f"{name}: the sentence embedding has {model.embedding_dim} dimensions but the decoder's "
                f"cross-attention takes the transformer's hidden size {hidden}; remove the Dense layer"
            )
        self.decoder = build_decoder(encoder)
        if self.tie_encoder_decoder:
            tie_to_encoder(self.decoder, encoder)
        else:
            self.decoder.base_model.load_state_dict(_shared_entries(encoder, self.decoder.base_model), strict=False)
        nn.Module.to(self.decoder, next(model.parameters()).device)
        tokenizer = model.transformer.tokenizer
        self.pad_token_id = int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed the damaged column with the model and return the decoder's reconstruction loss.

        ``labels`` are ignored (the original sentence is the target).

        Raises:
            DataError: not exactly two feature dicts (damaged, original), or different row counts.
        """
        name = type(self).__name__
        check_feature_columns(name, features, minimum=2, maximum=2, columns=self.columns)
        device = next(self.model.parameters()).device
        damaged = features_to_device(features[0], device)
        target_ids = features[1]["input_ids"].to(device)
        if damaged["input_ids"].shape[0] != target_ids.shape[0]:
            raise DataError(
                f"{name}: every text column must hold the same number of rows, "
                f"found {[damaged['input_ids'].shape[0], target_ids.shape[0]]}"
            )
        embeddings = self.model(damaged)["sentence_embedding"]
        return self.reconstruction_loss(embeddings, target_ids)

    def reconstruction_loss(self, embeddings: Tensor, target_ids: Tensor) -> Tensor:
        """Mean cross-entropy of predicting ``target_ids[:, 1:]`` from ``target_ids[:, :-1]`` and ``embeddings``.

        Args:
            embeddings: ``(batch, hidden)`` sentence embeddings (the decoder's only cross-attention key).
            target_ids: ``(batch, length)`` token ids of the original sentences (padded with the pad id,
                which is ignored), ``length >= 2``.

        Raises:
            DataError: shapes that do not fit, or targets too short to predict a token.
        """
        name = type(self).__name__
        if embeddings.dim() != 2 or target_ids.dim() != 2 or embeddings.shape[0] != target_ids.shape[0]:
            raise DataError(
                f"{name}: expected embeddings (batch, hidden) and target ids (batch, length) of one batch size, "
                f"found {tuple(embeddings.shape)} and {tuple(target_ids.shape)}"
            )
        if target_ids.shape[1] < 2:
            raise DataError(f"{name}: the original sentences must have at least 2 tokens, found {target_ids.shape[1]}")
        rows = embeddings.shape[0]
        logits = self.decoder(
            input_ids=target_ids[:, :-1],
            encoder_hidden_states=embeddings[:, None],
            encoder_attention_mask=torch.ones(rows, 1, dtype=torch.long, device=embeddings.device),
            use_cache=False,
        ).logits
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                target_ids[:, 1:].reshape(-1),
                ignore_index=self.pad_token_id,
            )

    def get_config_dict(self) -> dict[str, Any]:
        """``tie_encoder_decoder``."""
        return {"tie_encoder_decoder": self.tie_encoder_decoder}


@transformers_io
def build_decoder(encoder: PreTrainedModel) -> PreTrainedModel:
    """A causal-LM decoder with cross-attention, of the encoder's architecture and size (random weights).

    Raises:
        ConfigError: transformers has no causal-LM class for this architecture.
    """
    config = copy.deepcopy(encoder.config)
    config.is_decoder = True
    config.add_cross_attention = True
    config.tie_word_embeddings = True
    try:
        decoder = AutoModelForCausalLM.from_config(config, attn_implementation=encoder.config._attn_implementation)
    except ValueError as exc:
        raise ConfigError(
            f"DenoisingAutoEncoderLoss: transformers has no causal-LM decoder for {type(encoder).__name__} "
            f"({config.model_type}); use an encoder such as BERT or RoBERTa"
        ) from exc
    return decoder.to(dtype=next(encoder.parameters()).dtype)


def tie_to_encoder(decoder: PreTrainedModel, encoder: nn.Module) -> int:
    """Make every decoder base-model parameter that has a same-named, same-shaped encoder parameter *be* it.

    The output projection is then re-tied to the (now shared) word embeddings. Returns how many
    parameters were tied.

    Raises:
        ConfigError: nothing could be tied (the two are not the same architecture).
    """
    encoder_parameters = dict(encoder.named_parameters())
    base = decoder.base_model
    tied = 0
    for name, parameter in list(base.named_parameters()):
        shared = encoder_parameters.get(name)
        if shared is None or shared.shape != parameter.shape:
            continue
        module_name, _, attribute = name.rpartition(".")
        setattr(base.get_submodule(module_name) if module_name else base, attribute, shared)
        tied += 1
    if not tied:
        raise ConfigError("DenoisingAutoEncoderLoss: no decoder weight matches the encoder's; cannot tie them")
    output = decoder.get_output_embeddings()
    if output is not None:
        output.weight = decoder.get_input_embeddings().weight
    return tied


def _shared_entries(encoder: nn.Module, decoder_base: nn.Module) -> dict[str, Tensor]:
    """Copies of the encoder's tensors that the decoder base model also has (same name and shape)."""
    wanted = decoder_base.state_dict()
    return {
        k: v.detach().clone() for k, v in encoder.state_dict().items() if k in wanted and wanted[k].shape == v.shape
    }


# ---- data ----------------------------------------------------------------------------------------


def delete_words(text: str, *, ratio: float = DELETION_RATIO, rng: random.Random | None = None) -> str:
    """``text`` with each whitespace-separated word deleted with probability ``ratio`` (one word always stays).

    Words are split on whitespace, so punctuation stays attached to its word.

    Raises:
        ConfigError: ``ratio`` outside ``[0, 1)``.
    """
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 <= ratio < 1:
        raise ConfigError(f"delete_words: ratio must be a number in [0, 1), found {ratio!r}")
    rng = rng if rng is not None else random.Random()
    words = text.split()
    if not words:
        return text
    kept = [word for word in words if rng.random() >= ratio]
    if not kept:
        kept = [words[rng.randrange(len(words))]]
    return " ".join(kept)


def denoising_pairs(
    sentences: Sequence[str],
    *,
    noise: Callable[[str, random.Random], str] | None = None,
    ratio: float = DELETION_RATIO,
    seed: int = 0,
) -> list[dict[str, str]]:
    """Training rows ``{"damaged", "original"}`` for :class:`DenoisingAutoEncoderLoss` from unlabelled sentences.

    The noise is drawn once here (seeded): for several epochs with fresh noise, build the rows again
    per epoch with another seed.

    Args:
        sentences: the unlabelled sentences (non-empty strings).
        noise: ``noise(text, rng) -> damaged text``; default :func:`delete_words` with ``ratio``.
        ratio: the deletion ratio of the default noise (0.6 as in the paper).
        seed: seeds the noise.

    Raises:
        DataError: no sentences, or one that is not a non-empty string.
        ConfigError: ``ratio`` outside ``[0, 1)``.
    """
    if not sentences:
        raise DataError("denoising_pairs: no sentences")
    rng = random.Random(seed)
    damage = noise if noise is not None else (lambda text, r: delete_words(text, ratio=ratio, rng=r))
    rows = []
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str) or not sentence.strip():
            raise DataError(f"denoising_pairs: sentence {index} must be a non-empty string, found {sentence!r}")
        rows.append({"damaged": damage(sentence, rng), "original": sentence})
    return rows
