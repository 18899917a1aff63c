"""SequentialEvaluator: run several evaluators as one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sbert_plugins.errors import ConfigError
from sbert_plugins.evaluation.base import Evaluator

if TYPE_CHECKING:
    from sbert_plugins.encoder import SentenceEncoder


def _last(scores: list[float]) -> float:
    return scores[-1]


class SequentialEvaluator(Evaluator):
    """Run each evaluator in turn and merge their metrics, adding ``sequential_score``.

    Args:
        evaluators: the evaluators (at least one); their metric names must not collide, so give
            evaluators of the same kind distinct ``name`` prefixes.
        main_score_function: combines the evaluators' primary metrics, in order, into
            ``sequential_score`` (the primary metric); default: the last one's.

    Each evaluator writes its own CSV when an ``output_path`` is given.

    Raises:
        ConfigError: no evaluators, or (at call time) two evaluators returning the same metric name.
    """

    def __init__(
        self,
        evaluators: Iterable[Evaluator],
        *,
        main_score_function: Callable[[list[float]], float] = _last,
        name: str = "",
    ) -> None:
        super().__init__(name=name, write_csv=False, csv_stem="sequential_evaluation")
        self.evaluators = list(evaluators)
        if not self.evaluators:
            raise ConfigError("evaluators is empty; give at least one evaluator")
        for index, evaluator in enumerate(self.evaluators):
            if not callable(evaluator) or not hasattr(evaluator, "primary_metric"):
                raise ConfigError(f"evaluators[{index}] is not an evaluator (callable with a primary_metric)")
        self.main_score_function = main_score_function
        self.primary_metric = "sequential_score"

    def __call__(
        self, model: SentenceEncoder, output_path: str | Path | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Run every evaluator (passing ``output_path``, ``epoch``, ``steps`` on) and merge their metrics."""
        results: dict[str, float] = {}
        primaries: list[float] = []
        for index, evaluator in enumerate(self.evaluators):
            metrics = evaluator(model, output_path, epoch, steps)
            clashes = sorted(set(metrics) & set(results))
            if clashes:
                raise ConfigError(
                    f"evaluators[{index}] returns metric names already returned by an earlier evaluator: {clashes}; "
                    "give the evaluators distinct names"
                )
            results.update(metrics)
            primaries.append(metrics[evaluator.primary_metric])
        results[self.prefixed("sequential_score")] = float(self.main_score_function(primaries))
        return results

    def compute(self, model: SentenceEncoder) -> dict[str, float]:
        """The merged metrics, as calling the evaluator without ``output_path`` returns them."""
        return self(model)
