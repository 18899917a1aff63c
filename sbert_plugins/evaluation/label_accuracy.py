"""LabelAccuracyEvaluator: accuracy of a classifier on top of pair embeddings (e.g. the NLI softmax head)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import (
    Evaluator,
    check_positive_int,
    check_same_length,
    check_texts,
    check_truncate_dim,
    encode_texts,
)

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder

PairClassifier = Callable[[Tensor, Tensor], Tensor]


class LabelAccuracyEvaluator(Evaluator):
    """Share of pairs whose predicted class (argmax of the classifier's logits) equals the gold label.

    The classifier is any callable (an ``nn.Module`` included) taking the two embedding batches
    ``u`` and ``v``, each ``(batch, dim)`` on the model's device, and returning logits
    ``(batch, num_labels)``. For the Sentence-BERT softmax head on ``(u, v, |u - v|)``::

        classifier = lambda u, v: head(torch.cat([u, v, (u - v).abs()], dim=1))

    It runs without gradients, in eval mode when it is an ``nn.Module`` (its mode is restored after).

    Args:
        sentences1, sentences2: the pairs (non-empty, same length).
        labels: the gold class index of each pair (integers >= 0).
        classifier: the callable described above.
        batch_size, truncate_dim, show_progress: passed to ``model.encode``; ``batch_size`` pairs go
            through the classifier at a time.
        name: metric-name prefix; write_csv: append a CSV row when called with an ``output_path``.

    Metrics: ``accuracy`` (primary).

    Raises:
        ConfigError: empty or mismatched inputs, a label that is not a non-negative integer, a
            classifier that is not callable; at call time, logits of the wrong shape.
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        labels: Sequence[int],
        classifier: PairClassifier,
        *,
        batch_size: int = 32,
        truncate_dim: int | None = None,
        show_progress: bool = False,
        name: str = "",
        write_csv: bool = True,
    ) -> None:
        super().__init__(name=name, write_csv=write_csv, csv_stem="label_accuracy_evaluation")
        self.sentences1 = check_texts(sentences1, "sentences1")
        self.sentences2 = check_texts(sentences2, "sentences2")
        for index, label in enumerate(labels):
            if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or label < 0:
                raise ConfigError(f"labels[{index}] is {label!r}; labels must be class indices (integers >= 0)")
        self.labels = torch.as_tensor([int(label) for label in labels], dtype=torch.long)
        check_same_length(sentences1=self.sentences1, sentences2=self.sentences2, labels=self.labels)
        if not callable(classifier):
            raise ConfigError(
                f"classifier must be callable as classifier(u, v) -> logits, found {type(classifier).__name__}"
            )
        self.classifier = classifier
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.truncate_dim = check_truncate_dim(truncate_dim)
        self.show_progress = show_progress
        self.primary_metric = "accuracy"

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "truncate_dim": self.truncate_dim,
            "show_progress": self.show_progress,
            "convert_to": "torch",
        }
        u_all = encode_texts(model, self.sentences1, **options)
        v_all = encode_texts(model, self.sentences2, **options)
        was_training = isinstance(self.classifier, torch.nn.Module) and self.classifier.training
        if isinstance(self.classifier, torch.nn.Module):
            self.classifier.eval()
        correct = 0
        try:
            with torch.no_grad():
                for start in range(0, len(self.labels), self.batch_size):
                    u = u_all[start : start + self.batch_size].to(model.device)
                    v = v_all[start : start + self.batch_size].to(model.device)
                    logits = self.classifier(u, v)
                    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.size(0) != len(u):
                        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                        raise ConfigError(
                            f"classifier must return logits of shape ({len(u)}, num_labels), found {shape}"
                        )
                    labels = self.labels[start : start + self.batch_size].to(logits.device)
                    correct += int((logits.argmax(dim=1) == labels).sum().item())
        finally:
            if isinstance(self.classifier, torch.nn.Module):
                self.classifier.train(was_training)
        return {"accuracy": correct / len(self.labels)}
