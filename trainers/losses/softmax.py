"""SoftmaxLoss: the Sentence-BERT NLI objective, a linear classifier on (u, v, |u - v|)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import ConfigError, DataError
from trainers.losses._base import EmbeddingLoss
from trainers.losses._checks import class_labels, flag, integer_at_least


class SoftmaxLoss(EmbeddingLoss):
    """Cross-entropy of a linear classifier over the concatenated features of a sentence pair.

    With embeddings ``u`` and ``v``, the classifier sees ``(u, v, |u - v|)`` by default (the
    combination the paper found best), optionally with ``u * v``; its weights train together with
    the model and are not saved with it.

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained.
        num_labels: number of classes (>= 2), e.g. 3 for entailment / neutral / contradiction.
        concatenation_sent_rep: include ``u`` and ``v`` (default True).
        concatenation_sent_difference: include ``|u - v|`` (default True).
        concatenation_sent_multiplication: include ``u * v`` (default False).
        embedding_dim: size of ``u`` and ``v``; default: the model's embedding size.
        At least one of the three ``concatenation_*`` options must be True.

    Inputs:
        ========================  ===========================================
        columns                   label
        ========================  ===========================================
        (sentence_A, sentence_B)  integer class id from 0 to num_labels - 1
        ========================  ===========================================

    Reference:
        Reimers & Gurevych, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
        EMNLP 2019, https://arxiv.org/abs/1908.10084 (section 3, classification objective).

    Relations:
        For retrieval-style embeddings from NLI data, (anchor, entailed, contradicted) triplets with
        :class:`MultipleNegativesRankingLoss` usually train better than classification.

    Example:
        ::

            loss = losses.SoftmaxLoss(model, num_labels=3)
            features = [model.tokenize(premises), model.tokenize(hypotheses)]
            value = loss(features, torch.tensor(label_ids))
            u, v = model.encode(premises, convert_to="torch"), model.encode(hypotheses, convert_to="torch")
            predicted = loss.logits(u, v).argmax(dim=1)  # class ids, e.g. for an accuracy evaluation
    """

    def __init__(
        self,
        model: SentenceEncoder,
        *,
        num_labels: int,
        concatenation_sent_rep: bool = True,
        concatenation_sent_difference: bool = True,
        concatenation_sent_multiplication: bool = False,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__(model)
        self.num_labels = integer_at_least(self._name, "num_labels", num_labels, 2)
        self.concatenation_sent_rep = flag(self._name, "concatenation_sent_rep", concatenation_sent_rep)
        self.concatenation_sent_difference = flag(
            self._name, "concatenation_sent_difference", concatenation_sent_difference
        )
        self.concatenation_sent_multiplication = flag(
            self._name, "concatenation_sent_multiplication", concatenation_sent_multiplication
        )
        parts = 2 * self.concatenation_sent_rep + self.concatenation_sent_difference
        parts += self.concatenation_sent_multiplication
        if parts == 0:
            raise ConfigError(
                f"{self._name}: at least one of concatenation_sent_rep, concatenation_sent_difference and "
                "concatenation_sent_multiplication must be True"
            )
        if embedding_dim is None:
            embedding_dim = model.embedding_dim
        self.embedding_dim = integer_at_least(self._name, "embedding_dim", embedding_dim, 1)
        device = next(model.parameters()).device
        self.classifier = nn.Linear(parts * self.embedding_dim, self.num_labels, device=device)

    def logits(self, first: Tensor, second: Tensor) -> Tensor:
        """Class scores ``(batch, num_labels)`` for pairs of embeddings ``first[i]``, ``second[i]``."""
        if first.shape[-1] != self.embedding_dim:
            raise DataError(
                f"{self._name} was built for embeddings of size {self.embedding_dim}, found {first.shape[-1]}; "
                "pass embedding_dim= to match the model's output"
            )
        parts = []
        if self.concatenation_sent_rep:
            parts += [first, second]
        if self.concatenation_sent_difference:
            parts.append((first - second).abs())
        if self.concatenation_sent_multiplication:
            parts.append(first * second)
        weight = self.classifier.weight
        return self.classifier(torch.cat(parts, dim=1).to(device=weight.device, dtype=weight.dtype))

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Cross-entropy of :meth:`logits` against one class id per row."""
        first, second = self._check(embeddings)
        targets = class_labels(self._name, labels, first.shape[0], num_classes=self.num_labels)
        logits = self.logits(first, second)
        return F.cross_entropy(logits, targets.to(logits.device))

    def get_config_dict(self) -> dict[str, Any]:
        """``num_labels``, the three ``concatenation_*`` options and ``embedding_dim``."""
        return {
            "num_labels": self.num_labels,
            "concatenation_sent_rep": self.concatenation_sent_rep,
            "concatenation_sent_difference": self.concatenation_sent_difference,
            "concatenation_sent_multiplication": self.concatenation_sent_multiplication,
            "embedding_dim": self.embedding_dim,
        }
