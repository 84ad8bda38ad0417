"""Majority vote: each task takes the class most (weighted) answers gave it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from loopwise.consensus.base import Aggregator, FloatArray, IntArray, normalise_rows
from loopwise.errors import InvalidInput


class MajorityVote(Aggregator):
    """The class with the largest (weighted) share of a task's answers.

    Ties go to the lowest class index, so the result never depends on row order.
    ``probas_`` holds the vote shares; a task whose answers all weigh 0 gets a uniform row.

    Parameters
    ----------
    weights:
        Optional ``(n_workers,)`` non-negative weight per worker id, e.g. reviewer skills;
        every worker counts 1 when omitted.
    """

    name = "majority_vote"

    def __init__(self, weights: npt.ArrayLike | None = None) -> None:
        self.weights = weights

    def _fit(
        self,
        tasks: IntArray,
        workers: IntArray,
        labels: IntArray,
        *,
        n_tasks: int,
        n_workers: int,
        n_classes: int,
    ) -> FloatArray:
        votes = np.zeros((n_tasks, n_classes))
        np.add.at(votes, (tasks, labels), self._worker_weights(n_workers)[workers])
        return normalise_rows(votes)

    def _worker_weights(self, n_workers: int) -> FloatArray:
        if self.weights is None:
            return np.ones(n_workers)
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.ndim != 1 or weights.size < n_workers:
            raise InvalidInput(
                f"needs one weight per worker id 0 .. {n_workers - 1}, got shape {weights.shape}",
                field="weights",
            )
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise InvalidInput("must be finite and non-negative", field="weights")
        return weights
