"""GISTEmbedLoss: in-batch negatives, minus those a guide model rates as close as the positive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._base import EmbeddingLoss, embed_columns, features_to_device
from trainers.losses._checks import choice, flag, non_negative_number, positive_number
from trainers.losses._distances import similarity_matrix
from trainers.losses._gradcache import check_features, mini_batch, rows_of

MarginStrategy = Literal["absolute", "relative"]


class GISTEmbedLoss(EmbeddingLoss):
    """In-batch-negative cross-entropy where a guide model removes the likely false negatives.

    For anchor ``i`` the candidates are every positive (and hard negative) of the batch, and by default
    the other anchors and the other positives too. A candidate whose *guide* similarity to the anchor
    exceeds the guide similarity of the anchor's own pair (minus ``margin``) is probably another correct
    answer, not a negative: it is left out of the softmax. The loss is
    ``-log softmax(cos(anchor_i, candidates) / temperature)[positive_i]`` over the kept candidates.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        guide: a stronger, frozen :class:`~sbert_plugins.SentenceEncoder`, or the name or folder of one
            (loaded on the model's device). Its tokenizer may differ: the texts are then decoded from the
            model's token ids and tokenized again for the guide. It runs without gradients, in eval mode.
        temperature: divides the cosine similarities; > 0, default 0.01 (``scale = 100``).
        margin_strategy: ``"absolute"`` (default) drops candidates with guide similarity above
            ``positive - margin``; ``"relative"`` above ``positive - |positive| * margin``.
        margin: >= 0, default 0. A larger margin drops more candidates.
        contrast_anchors: also contrast each anchor with the other anchors (default True).
        contrast_positives: also contrast each positive with the other positives (default True).

    Inputs:
        ===============================================  =======================
        columns                                          label
        ===============================================  =======================
        (anchor, positive)                               none (ignored if given)
        (anchor, positive, negative_1, ..., negative_n)  none (ignored if given)
        ===============================================  =======================

    Reference:
        Solatorio, "GISTEmbed: Guided In-sample Selection of Training Negatives for Text Embedding
        Fine-tuning", 2024, https://arxiv.org/abs/2402.16829.

    Relations:
        :class:`MultipleNegativesRankingLoss` without the guide (faster, but duplicates and paraphrases in a
        batch act as negatives); :class:`CachedGISTEmbedLoss` for batches that do not fit in memory.

    Example:
        ::

            guide = SentenceEncoder("sentence-transformers/all-MiniLM-L6-v2")
            loss = losses.GISTEmbedLoss(model, guide=guide, temperature=0.01)
            value = loss([model.tokenize(questions), model.tokenize(answers)], None)
    """

    min_columns = 2
    max_columns = None
    columns = "(anchor, positive, negative_1, ..., negative_n)"
    _guide_batch_size: int | None = None  # None: embed each column for the guide in one call

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        guide: SentenceEncoder | str | Path,
        temperature: float = 0.01,
        margin_strategy: MarginStrategy = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
    ) -> None:
        super().__init__(model)
        self.guide: Any = _load_guide(self._name, guide, model)  # a SentenceEncoder or a look-alike
        self.temperature = positive_number(self._name, "temperature", temperature)
        self.margin_strategy: MarginStrategy = choice(  # type: ignore[assignment]
            self._name, "margin_strategy", margin_strategy, ("absolute", "relative")
        )
        self.margin = non_negative_number(self._name, "margin", margin)
        self.contrast_anchors = flag(self._name, "contrast_anchors", contrast_anchors)
        self.contrast_positives = flag(self._name, "contrast_positives", contrast_positives)
        self.must_retokenize = _tokenizers_differ(model, self.guide)

    def train(self, mode: bool = True) -> GISTEmbedLoss:
        """Set the training mode of the model; the guide stays in eval mode (no dropout) unless it is the model."""
        super().train(mode)
        if self.guide is not self.model:
            self.guide.eval()
        return self

    # ---- embedding ----------------------------------------------------------------------------

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed each column with the model (with gradients) and the guide (without), and return the loss.

        Raises:
            DataError: wrong number of columns, or columns of different lengths.
        """
        check_features(self, features)
        device = next(self.model.parameters()).device
        embeddings = embed_columns(self.model, features, device)
        side = self.side_inputs(features)
        with torch.autocast(device_type=device.type, enabled=False):
            return self.compute_loss_from_embeddings([e.float() for e in embeddings], labels, **side)

    def side_inputs(self, features: Sequence[Mapping[str, Tensor]]) -> dict[str, Any]:
        """``{"guide_embeddings": [...]}``: the guide's float32 embedding of each column, without gradients."""
        device = next(self.guide.parameters()).device
        guide_embeddings = []
        with torch.no_grad():
            for column in features:
                rows = rows_of(column)
                step = self._guide_batch_size or rows
                parts = [
                    self.guide(self._guide_features(mini_batch(column, begin, min(begin + step, rows)), device))
                    for begin in range(0, rows, step)
                ]
                guide_embeddings.append(torch.cat([p["sentence_embedding"] for p in parts]).float())
        return {"guide_embeddings": guide_embeddings}

    def _guide_features(self, features: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
        if not self.must_retokenize:
            return features_to_device(features, device)
        tokenizer = self.model.tokenizer
        # A Hugging Face tokenizer has batch_decode; a StaticEmbedding's `tokenizers.Tokenizer` has decode_batch.
        decode = getattr(tokenizer, "batch_decode", None) or tokenizer.decode_batch
        ids = (
            features["input_ids"].masked_fill(features["attention_mask"] == 0, 0)
            if "attention_mask" in features
            else features["input_ids"]
        )
        texts = decode(ids.tolist(), skip_special_tokens=True)
        return features_to_device(self.guide.tokenize(texts), device)

    # ---- the maths ----------------------------------------------------------------------------

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None, *, guide_embeddings: list[Tensor] | None = None
    ) -> Tensor:
        """The loss from the model's ``[anchors, positives, negatives...]`` and the guide's embeddings of the same.

        Raises:
            DataError: ``guide_embeddings`` missing or not one ``(batch, guide_dim)`` tensor per column.
        """
        embeddings, guide_embeddings = self._check_pair(embeddings, guide_embeddings)
        rows = embeddings[0].shape[0]
        return self._row_losses(embeddings, guide_embeddings, 0, rows).mean()

    def _check_pair(
        self, embeddings: list[Tensor], guide_embeddings: list[Tensor] | None
    ) -> tuple[list[Tensor], list[Tensor]]:
        embeddings = self._check(embeddings)
        if guide_embeddings is None:
            raise DataError(f"{self._name} needs guide_embeddings (the guide model's embeddings of each column)")
        guide_embeddings = self._check(guide_embeddings)
        if len(guide_embeddings) != len(embeddings) or guide_embeddings[0].shape[0] != embeddings[0].shape[0]:
            raise DataError(
                f"{self._name}: guide_embeddings must match the embeddings column for column and row for row"
            )
        return embeddings, [g.to(embeddings[0].device, torch.float32) for g in guide_embeddings]

    def _row_losses(self, embeddings: list[Tensor], guide: list[Tensor], begin: int, end: int) -> Tensor:
        """The cross-entropy of anchors ``begin:end`` over their kept candidates (one value per row)."""
        anchors, positives, *negatives = embeddings
        guide_anchors, guide_positives, *guide_negatives = guide
        device = anchors.device
        local = torch.arange(end - begin, device=device)
        own = torch.zeros(end - begin, anchors.shape[0], dtype=torch.bool, device=device)
        own[local, local + begin] = True

        guide_pairs = similarity_matrix(guide_anchors[begin:end], guide_positives, "cosine")
        threshold = guide_pairs[local, local + begin].unsqueeze(1)
        if self.margin_strategy == "absolute":
            threshold = threshold - self.margin
        else:
            threshold = threshold - threshold.abs() * self.margin

        def kept(scores: Tensor, guide_scores: Tensor, protect: Tensor | None = None) -> Tensor:
            drop = guide_scores > threshold
            if protect is not None:
                drop &= ~protect
            return scores.masked_fill(drop, -torch.inf)

        blocks = [kept(similarity_matrix(anchors[begin:end], positives, "cosine"), guide_pairs, own)]
        if self.contrast_anchors:
            guide_scores = similarity_matrix(guide_anchors[begin:end], guide_anchors, "cosine")
            blocks.append(kept(similarity_matrix(anchors[begin:end], anchors, "cosine"), guide_scores))
        if self.contrast_positives:
            guide_scores = similarity_matrix(guide_positives[begin:end], guide_positives, "cosine")
            blocks.append(kept(similarity_matrix(positives[begin:end], positives, "cosine"), guide_scores))
        for negative, guide_negative in zip(negatives, guide_negatives, strict=True):
            guide_scores = similarity_matrix(guide_anchors[begin:end], guide_negative, "cosine")
            blocks.append(kept(similarity_matrix(anchors[begin:end], negative, "cosine"), guide_scores))
        logits = torch.cat(blocks, dim=1) / self.temperature
        return torch.logsumexp(logits, dim=1) - logits[local, local + begin]

    def get_config_dict(self) -> dict[str, Any]:
        """The guide (its name or folder), ``temperature``, ``margin_strategy``, ``margin`` and the contrast flags."""
        return {
            "guide": getattr(self.guide, "source", None),
            "temperature": self.temperature,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
        }


def _load_guide(owner: str, guide: Any, model: nn.Module) -> nn.Module:
    if isinstance(guide, str | Path):
        device = next(model.parameters()).device
        return SentenceEncoder(guide, device=str(device))
    if not isinstance(guide, nn.Module) or not callable(getattr(guide, "tokenize", None)):
        raise ConfigError(
            f"{owner}: guide must be a SentenceEncoder or the name or folder of one, found {type(guide).__name__}"
        )
    return guide


def _tokenizers_differ(model: nn.Module, guide: nn.Module) -> bool:
    """Whether the guide needs its own tokenization (another vocabulary, or a shorter maximum length)."""
    if guide is model:
        return False
    model_tokenizer, guide_tokenizer = getattr(model, "tokenizer", None), getattr(guide, "tokenizer", None)
    if model_tokenizer is None or guide_tokenizer is None:
        raise ConfigError("GISTEmbedLoss needs a model and a guide with a tokenizer (SentenceEncoder)")
    # None: the model reads whole texts (StaticEmbedding), so any limit of the guide is shorter.
    guide_limit, model_limit = getattr(guide, "max_seq_length", None), getattr(model, "max_seq_length", None)
    shorter = guide_limit is not None and (model_limit is None or guide_limit < model_limit)
    return bool(shorter or model_tokenizer.get_vocab() != guide_tokenizer.get_vocab())
