"""ContrastiveTensionLoss: unsupervised; two copies of the model tell identical pairs from different ones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sbert_plugins.encoder import SentenceEncoder
from sbert_plugins.errors import DataError
from trainers.losses._checks import binary_labels, check_embeddings, integer_at_least
from trainers.losses._distances import pairwise_dot
from trainers.losses._twin import TwinEncoderLoss, sentence_embedding


class ContrastiveTensionLoss(TwinEncoderLoss):
    """Binary cross-entropy on the dot product of the twin's embedding of A and the model's of B.

    At construction the loss makes an independent copy of the model (the twin). Each row is a pair
    of sentences that is either the same sentence twice (label 1) or two different sentences
    (label 0); the twin embeds sentence A, the model sentence B, and ``dot(twin(A), model(B))`` is
    the logit of "identical". The loss is the binary cross-entropy *summed* over the batch (as in the
    paper's code). Both copies train; only the model is kept. Build the pairs from unlabelled
    sentences with :func:`contrastive_tension_pairs` (one identical pair in ``positive_every``).

    Args:
        model: the :class:`~sbert_plugins.SentenceEncoder` being trained (it encodes sentence B and is
            the result; the twin is copied from it here).

    Inputs:
        ============================  =================================================================
        columns                       label
        ============================  =================================================================
        (sentence_A, sentence_B)      1 if the pair is the same sentence, else 0; or none: then a pair
                                      counts as identical when its non-padding token ids are equal
        ============================  =================================================================

    Reference:
        Carlsson et al., "Semantic Re-tuning with Contrastive Tension", ICLR 2021,
        https://openreview.net/forum?id=Ov_sMNau-PF.

    Relations:
        :class:`ContrastiveTensionLossInBatchNegatives` takes single sentences and uses every other
        sentence of the batch as a negative: a stronger signal, usually preferred. With labelled
        pairs use :class:`OnlineContrastiveLoss`; for unsupervised domain adaptation also see
        :class:`DenoisingAutoEncoderLoss`.

    Example:
        ::

            from trainers.losses.contrastive_tension import contrastive_tension_pairs

            rows = contrastive_tension_pairs(sentences, positive_every=8, seed=0)
            loss = losses.ContrastiveTensionLoss(model)
            trainer = Trainer(model, loss=loss, train_data=rows, config=TrainingConfig(learning_rate=1e-5))
    """

    min_columns = 2
    max_columns = 2
    columns = "(sentence_A, sentence_B)"

    def __init__(self, model: SentenceEncoder) -> None:
        super().__init__(model)

    def embed(self, features: list[dict[str, Any]]) -> list[Tensor]:
        """The twin's embeddings of column A and the model's of column B."""
        return [sentence_embedding(self.twin, features[0]), sentence_embedding(self.model, features[1])]

    def loss_from_features(
        self, embeddings: list[Tensor], features: list[dict[str, Any]], labels: Tensor | None
    ) -> Tensor:
        """Labels derived from the token ids when none are given, then :meth:`compute_loss_from_embeddings`."""
        if labels is None:
            check_embeddings(self._name, embeddings, minimum=2, maximum=2, columns=self.columns)
            labels = identical_rows(features[0], features[1]).to(embeddings[0].dtype)
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Summed binary cross-entropy of ``dot(twin_A, model_B)`` against the 1/0 labels."""
        first, second = check_embeddings(self._name, embeddings, minimum=2, maximum=2, columns=self.columns)
        targets = binary_labels(self._name, labels, first.shape[0]).to(first.device)
        return F.binary_cross_entropy_with_logits(pairwise_dot(first, second), targets, reduction="sum")

    def get_config_dict(self) -> dict[str, Any]:
        """No hyper-parameters."""
        return {}


def identical_rows(first: dict[str, Tensor], second: dict[str, Tensor]) -> Tensor:
    """1.0 for each row whose non-padding token ids are the same in both columns, else 0.0."""
    ids_a, ids_b = first["input_ids"], second["input_ids"]
    mask_a = first.get("attention_mask", torch.ones_like(ids_a)).bool()
    mask_b = second.get("attention_mask", torch.ones_like(ids_b)).bool()
    same = [torch.equal(a[ma], b[mb]) for a, ma, b, mb in zip(ids_a, mask_a, ids_b, mask_b, strict=True)]
    return torch.tensor(same, dtype=torch.float32, device=ids_a.device)


def contrastive_tension_pairs(
    sentences: Sequence[str], *, positive_every: int = 8, seed: int = 0
) -> list[dict[str, Any]]:
    """Training rows for :class:`ContrastiveTensionLoss` from unlabelled sentences.

    The sentences are shuffled; then every ``positive_every``-th row pairs a sentence with itself
    (label 1) and the others pair two different sentences (label 0), each sentence used once.
    With the Trainer's random sampler about one row in ``positive_every`` of each batch is a positive.

    Args:
        sentences: the unlabelled sentences (at least 2 distinct).
        positive_every: one identical pair per this many rows (>= 2; the paper uses 8).
        seed: seeds the shuffle.

    Returns:
        Rows ``{"sentence_A", "sentence_B", "label"}`` for :class:`~trainers.Trainer`.

    Raises:
        ConfigError: ``positive_every`` < 2.
        DataError: a sentence is not a string, or fewer than 2 distinct sentences.
    """
    positive_every = integer_at_least("contrastive_tension_pairs", "positive_every", positive_every, 2)
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise DataError(f"contrastive_tension_pairs: sentence {index} is a {type(sentence).__name__}, not a str")
    if len(set(sentences)) < 2:
        raise DataError("contrastive_tension_pairs needs at least 2 distinct sentences to build negative pairs")
    order = list(sentences)
    random.Random(seed).shuffle(order)
    rows: list[dict[str, Any]] = []
    position = 0
    while position < len(order):
        first = order[position]
        if len(rows) % positive_every == 0:
            rows.append({"sentence_A": first, "sentence_B": first, "label": 1})
            position += 1
            continue
        if position + 1 >= len(order):
            break
        second = order[position + 1]
        # A repeated sentence in the corpus would give a "negative" pair of identical texts.
        rows.append({"sentence_A": first, "sentence_B": second, "label": int(first == second)})
        position += 2
    if not any(row["label"] == 0 for row in rows):
        raise DataError("contrastive_tension_pairs built no negative pair from these sentences; give at least 3")
    return rows
