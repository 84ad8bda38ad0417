"""The aggregator contract: one long table of answers in, one label per task out.

Every aggregator reads the same three equal-length integer columns, one row per answer
(``tasks[i]`` was labelled ``labels[i]`` by ``workers[i]``), so any aggregator can replace
another. Fitted state ends in ``_``, as in scikit-learn and crowd-kit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from loopwise.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _column(values: npt.ArrayLike, field: str) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(f"must be one-dimensional, got shape {array.shape}", field=field)
    if array.size and array.dtype.kind not in "iu":
        raise InvalidInput(f"must hold integers, got dtype {array.dtype}", field=field)
    if array.size and array.min() < 0:
        raise InvalidInput("must not hold negative values", field=field)
    return array.astype(np.int64)


def normalise_rows(weights: FloatArray) -> FloatArray:
    """Divide each row of the last axis by its sum; rows summing to 0 become uniform."""
    sums = weights.sum(axis=-1, keepdims=True)
    uniform = np.full_like(weights, 1.0 / weights.shape[-1])
    return np.asarray(np.where(sums > 0, weights / np.where(sums > 0, sums, 1.0), uniform))


def validate_answers(
    tasks: npt.ArrayLike, workers: npt.ArrayLike, labels: npt.ArrayLike, n_classes: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Check the long table and return it as three ``int64`` columns.

    Raises
    ------
    InvalidInput
        With ``field`` set to ``tasks``, ``workers``, ``labels`` or ``n_classes``: a column
        that is empty, not 1-D integers, negative, of another length than ``tasks``, or a
        label outside ``0 .. n_classes - 1``.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise InvalidInput(f"must be an integer, got {n_classes!r}", field="n_classes")
    if n_classes < 1:
        raise InvalidInput(f"must be at least 1, got {n_classes}", field="n_classes")
    t = _column(tasks, "tasks")
    w = _column(workers, "workers")
    y = _column(labels, "labels")
    if t.size == 0:
        raise InvalidInput("no answers to aggregate", field="tasks")
    for field, column in (("workers", w), ("labels", y)):
        if column.size != t.size:
            raise InvalidInput(
                f"has {column.size} rows but tasks has {t.size}; one row per answer",
                field=field,
            )
    if y.max() >= n_classes:
        raise InvalidInput(f"label {int(y.max())} is outside 0 .. {n_classes - 1}", field="labels")
    return t, w, y


class Aggregator(ABC):
    """Infers one label per task from many workers' answers.

    Attributes
    ----------
    labels_:
        ``(n_tasks,)`` the most probable class per task, ``-1`` for a task id with no answer.
        ``n_tasks`` is the largest task id plus one.
    probas_:
        ``(n_tasks, n_classes)`` the posterior over classes per task; rows sum to 1.
    """

    name: ClassVar[str]
    labels_: IntArray
    probas_: FloatArray

    def fit(
        self,
        tasks: npt.ArrayLike,
        workers: npt.ArrayLike,
        labels: npt.ArrayLike,
        *,
        n_classes: int,
    ) -> Self:
        """Fit on the long table of answers; returns ``self``.

        Parameters
        ----------
        tasks, workers, labels:
            Equal-length non-negative integer arrays, one row per answer. ``labels`` are
            class indices in ``0 .. n_classes - 1``.
        n_classes:
            The number of classes.
        """
        t, w, y = validate_answers(tasks, workers, labels, n_classes)
        n_tasks = int(t.max()) + 1
        n_workers = int(w.max()) + 1
        probas = self._fit(t, w, y, n_tasks=n_tasks, n_workers=n_workers, n_classes=n_classes)
        answered = np.bincount(t, minlength=n_tasks) > 0
        self.probas_ = probas
        self.labels_ = np.where(answered, probas.argmax(axis=1), -1).astype(np.int64)
        return self

    def fit_predict(
        self,
        tasks: npt.ArrayLike,
        workers: npt.ArrayLike,
        labels: npt.ArrayLike,
        *,
        n_classes: int,
    ) -> IntArray:
        """``fit`` and return ``labels_`` ``(n_tasks,)``."""
        return self.fit(tasks, workers, labels, n_classes=n_classes).labels_

    @abstractmethod
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
        """Learn from validated columns; return ``probas_`` ``(n_tasks, n_classes)``."""
