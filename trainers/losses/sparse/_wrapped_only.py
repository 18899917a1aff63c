"""What the sparse task losses share: they run inside SpladeLoss or CSRLoss, never on their own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from sbert_plugins.errors import ConfigError
from sbert_plugins.sparse import SparseEncoder


class WrappedOnly:
    """Mixin of the sparse task losses whose ``forward`` refuses to run without a sparsity regulariser.

    Trained alone, a SPLADE or CSR model drifts towards dense vectors; :class:`SpladeLoss` (FLOPS
    regularisers) or :class:`CSRLoss` (reconstruction losses) keeps it sparse and calls the wrapped loss's
    ``compute_loss_from_embeddings`` on the embeddings it computed once.
    """

    sparse: bool = True

    def forward(self, features: Sequence[Mapping[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Raises ConfigError: wrap the loss in SpladeLoss (SPLADE models) or CSRLoss (CSR models)."""
        del features, labels
        name = type(self).__name__
        raise ConfigError(
            f"{name} is not used alone: wrap it, e.g. SpladeLoss(model, {name}(model), "
            f"document_regularizer_weight=3e-5, query_regularizer_weight=5e-5) or CSRLoss(model, {name}(model))"
        )


def score_by_cosine(model: object) -> None:
    """Make ``model`` score by cosine (as the reference does for its cosine-trained sparse losses).

    A model trained to order cosines should be searched and evaluated by cosine too; the choice is saved
    with the model (``similarity_fn_name`` in ``config_sentence_transformers.json``).
    """
    if hasattr(model, "similarity_fn_name"):
        model.similarity_fn_name = "cosine"


def check_sparse_model(owner: str, model: object) -> None:
    """ConfigError unless ``model`` is a SparseEncoder: the sparsity terms mean nothing on dense embeddings."""
    if not isinstance(model, SparseEncoder):
        raise ConfigError(
            f"{owner} trains a SparseEncoder, found {type(model).__name__}; load a sparse model with "
            "SparseEncoder(path) or build SPLADE from a Hugging Face folder with SparseEncoder.from_transformer(path)"
        )
