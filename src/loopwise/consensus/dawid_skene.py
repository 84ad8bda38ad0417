"""Dawid-Skene: expectation-maximisation over a confusion matrix per worker.

A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using
the EM Algorithm", Applied Statistics 28(1), 1979. Each worker ``w`` answers class ``j``
when the truth is ``c`` with probability ``errors_[w, c, j]``; EM alternates between the
posterior over each task's true class and the confusion matrices and class priors that
explain the answers best. Unlike majority vote, a worker who answers at random ends up
with a flat confusion matrix and so carries almost no weight.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from loopwise.consensus.base import Aggregator, FloatArray, IntArray, normalise_rows
from loopwise.consensus.majority_vote import MajorityVote
from loopwise.errors import InvalidInput

EPS = 1e-12


class DawidSkene(Aggregator):
    """Labels, class priors and per-worker confusion matrices by EM, started from majority vote.

    Parameters
    ----------
    n_iter:
        Maximum number of EM iterations.
    tol:
        Stop once no task's posterior moves by more than ``tol``.
    smoothing:
        Pseudo-count added to every confusion cell and prior (Laplace smoothing); keeps a
        worker seen on few tasks from getting probabilities of exactly 0 or 1.
    gold:
        Optional ``{task id: true class}``. Gold tasks keep their class throughout EM, so
        they anchor each worker's confusion matrix (reviewer reliability from gold tasks).

    Attributes
    ----------
    errors_:
        ``(n_workers, n_classes, n_classes)``: ``errors_[w, c, j]`` = P(worker ``w``
        answers ``j`` | truth ``c``); each row sums to 1.
    priors_:
        ``(n_classes,)`` the class distribution of the tasks; sums to 1.
    skills_:
        ``(n_workers,)`` P(worker is right) = ``sum_c priors_[c] * errors_[w, c, c]``.
        Range [0, 1]; **higher = more reliable**.
    n_iter_:
        EM iterations run.
    """

    name = "dawid_skene"

    errors_: FloatArray
    priors_: FloatArray
    skills_: FloatArray
    n_iter_: int

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 0.01,
        gold: Mapping[int, int] | None = None,
    ) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.gold = gold

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
        self._check_params()
        gold_tasks, gold_labels = self._gold(n_tasks, n_classes)
        answered = np.bincount(tasks, minlength=n_tasks) > 0

        posteriors = MajorityVote()._fit(
            tasks, workers, labels, n_tasks=n_tasks, n_workers=n_workers, n_classes=n_classes
        )
        posteriors[gold_tasks] = np.eye(n_classes)[gold_labels]
        self.n_iter_ = 0
        for _ in range(self.n_iter):
            self.n_iter_ += 1
            priors, errors = self._m_step(
                posteriors, answered, tasks, workers, labels, n_workers, n_classes
            )
            updated = self._e_step(priors, errors, tasks, workers, labels, n_tasks)
            updated[gold_tasks] = np.eye(n_classes)[gold_labels]
            change = float(np.abs(updated - posteriors).max())
            posteriors = updated
            if change <= self.tol:
                break

        self.priors_ = priors
        self.errors_ = errors
        self.skills_ = np.einsum("c,wcc->w", priors, errors)
        return posteriors

    def _m_step(
        self,
        posteriors: FloatArray,
        answered: npt.NDArray[np.bool_],
        tasks: IntArray,
        workers: IntArray,
        labels: IntArray,
        n_workers: int,
        n_classes: int,
    ) -> tuple[FloatArray, FloatArray]:
        priors = normalise_rows(posteriors[answered].sum(axis=0) + self.smoothing)
        # counts[w, truth, answer], one weighted bincount per true class (np.add.at, the
        # obvious spelling, is about ten times slower, and this runs for every settled task).
        cell = workers * n_classes + labels
        weights = posteriors[tasks]
        counts = np.stack(
            [
                np.bincount(cell, weights=weights[:, c], minlength=n_workers * n_classes).reshape(
                    n_workers, n_classes
                )
                for c in range(n_classes)
            ],
            axis=1,
        )
        return priors, normalise_rows(np.asarray(counts + self.smoothing, dtype=np.float64))

    @staticmethod
    def _e_step(
        priors: FloatArray,
        errors: FloatArray,
        tasks: IntArray,
        workers: IntArray,
        labels: IntArray,
        n_tasks: int,
    ) -> FloatArray:
        log_errors = np.log(np.clip(errors, EPS, 1.0))
        per_answer = log_errors[workers, :, labels]  # (n_answers, n_classes)
        log_post = np.stack(
            [
                np.bincount(tasks, weights=per_answer[:, c], minlength=n_tasks)
                for c in range(per_answer.shape[1])
            ],
            axis=1,
        ) + np.log(np.clip(priors, EPS, 1.0))
        log_post -= log_post.max(axis=1, keepdims=True)
        return normalise_rows(np.exp(log_post))

    def _check_params(self) -> None:
        if self.n_iter < 1:
            raise InvalidInput(f"must be at least 1, got {self.n_iter}", field="n_iter")
        if not self.tol >= 0:
            raise InvalidInput(f"must be non-negative, got {self.tol}", field="tol")
        if not self.smoothing >= 0:
            raise InvalidInput(f"must be non-negative, got {self.smoothing}", field="smoothing")

    def _gold(self, n_tasks: int, n_classes: int) -> tuple[IntArray, IntArray]:
        pairs = sorted((self.gold or {}).items())
        for task, label in pairs:
            if not 0 <= task < n_tasks:
                raise InvalidInput(f"task {task} has no answers to aggregate", field="gold")
            if not 0 <= label < n_classes:
                raise InvalidInput(
                    f"label {label} of task {task} is outside 0 .. {n_classes - 1}",
                    field="gold",
                )
        return (
            np.array([t for t, _ in pairs], dtype=np.int64),
            np.array([y for _, y in pairs], dtype=np.int64),
        )
