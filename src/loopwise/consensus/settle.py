"""Settle one task from its reviewers' answers, learning their reliability from history.

The task's own answers are too few to say whom to trust, so the aggregator is fitted on the
task together with recent answers on other multi-review and gold items. Gold items keep
their known class (Dawid-Skene clamps them; majority vote weighs each reviewer by the
log-odds of their smoothed gold accuracy), which is how reliability "from gold tasks where
available" enters the result.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from loopwise.consensus.base import FloatArray
from loopwise.consensus.dawid_skene import DawidSkene
from loopwise.consensus.majority_vote import MajorityVote

Answer = tuple[Hashable, str, int, int | None]
"""``(task key, reviewer, class index, gold class index or None)``."""


@dataclass(frozen=True, slots=True)
class Consensus:
    """The settled class of a task.

    ``agreement``: share of the task's answers that gave ``label`` (1.0 = unanimous; higher =
    more agreement). ``confidence``: the aggregator's posterior probability of ``label``.
    ``skills``: each reviewer's estimated reliability, higher = better.
    """

    label: int
    probabilities: FloatArray
    agreement: float
    confidence: float
    skills: dict[str, float]


def gold_weights(history: Sequence[Answer], reviewers: Sequence[str]) -> FloatArray:
    """Majority-vote weights: log-odds of each reviewer's gold accuracy, smoothed (+1 / +2).

    A reviewer with no gold answers gets the weight of accuracy 2/3 (log 2); one no better
    than a coin weighs 0. Weights are never negative: a reviewer worse than chance is ignored,
    not inverted.
    """
    right = dict.fromkeys(reviewers, 0)
    seen = dict.fromkeys(reviewers, 0)
    for _, reviewer, label, gold in history:
        if gold is not None and reviewer in seen:
            seen[reviewer] += 1
            right[reviewer] += int(label == gold)
    out = np.zeros(len(reviewers))
    for i, name in enumerate(reviewers):
        accuracy = (right[name] + 1) / (seen[name] + 2) if seen[name] else 2 / 3
        out[i] = max(0.0, math.log(accuracy / (1 - accuracy)))
    return out


def settle(
    answers: Sequence[tuple[str, int]],
    history: Sequence[Answer],
    *,
    n_classes: int,
    method: str = "dawid_skene",
) -> Consensus:
    """Aggregate ``answers`` (``(reviewer, class index)``) of one task, fitted with ``history``.

    The result is always a class at least one of the task's reviewers gave.

    ``method`` is ``dawid_skene`` or ``majority_vote``. Rows of ``history`` about the task
    itself (key ``None`` is reserved for it) are not expected; give the others.
    """
    if not answers:
        raise ValueError("a task needs at least one answer to settle")
    rows: list[Answer] = [(None, r, label, None) for r, label in answers]
    rows += [row for row in history if row[0] is not None]
    posteriors, skills, names = _fit(rows, n_classes, method, own=len(answers))
    probas = _only_given(posteriors[0], [label for _, label in answers])
    label = int(np.argmax(probas))
    agreement = sum(1 for _, given in answers if given == label) / len(answers)
    return Consensus(
        label=label,
        probabilities=np.asarray(probas, dtype=np.float64),
        agreement=agreement,
        confidence=float(probas[label]),
        skills={name: float(skills[i]) for i, name in enumerate(names)},
    )


def _only_given(probas: FloatArray, given: Sequence[int]) -> FloatArray:
    """The posterior restricted to the classes somebody gave, renormalised.

    Fitted on little history, EM can flip a confusion matrix and put its mass on a class no
    reviewer of the task chose; a consensus may weigh its reviewers, never overrule all of them.
    """
    mask = np.zeros_like(probas, dtype=bool)
    mask[list(given)] = True
    kept = np.where(mask, probas, 0.0)
    total = kept.sum()
    out = kept / total if total > 0 else mask / mask.sum()
    return np.asarray(out, dtype=np.float64)


def reviewer_skills(
    history: Sequence[Answer], *, n_classes: int, method: str = "dawid_skene"
) -> dict[str, float]:
    """Each reviewer's reliability from ``history`` alone (higher = better); ``{}`` if empty.

    Dawid-Skene: P(right) from the confusion matrix; majority vote: the gold log-odds weight.
    """
    if not history:
        return {}
    _, skills, names = _fit(list(history), n_classes, method, own=len(history))
    return {name: float(skills[i]) for i, name in enumerate(names)}


def _fit(
    rows: list[Answer], n_classes: int, method: str, *, own: int
) -> tuple[FloatArray, FloatArray, list[str]]:
    """Fit the aggregator on ``rows``: posteriors per task (first row's task first), skills
    per reviewer, and reviewer names. ``own``: rows that must carry weight under majority
    vote (all weights zero there falls back to equal weights)."""
    task_index: dict[Hashable, int] = {}
    reviewer_index: dict[str, int] = {}
    tasks = np.empty(len(rows), dtype=np.int64)
    workers = np.empty(len(rows), dtype=np.int64)
    labels = np.empty(len(rows), dtype=np.int64)
    gold: dict[int, int] = {}
    for i, (key, reviewer, label, truth) in enumerate(rows):
        tasks[i] = task_index.setdefault(key, len(task_index))
        workers[i] = reviewer_index.setdefault(reviewer, len(reviewer_index))
        labels[i] = label
        if truth is not None:
            gold[int(tasks[i])] = truth
    names = list(reviewer_index)
    if method == "dawid_skene":
        ds = DawidSkene(n_iter=50, tol=1e-4, gold=gold).fit(
            tasks, workers, labels, n_classes=n_classes
        )
        return ds.probas_, ds.skills_, names
    if method == "majority_vote":
        weights = gold_weights(rows, names)
        if not weights[workers[:own]].any():
            weights = np.ones(len(names))
        vote = MajorityVote(weights).fit(tasks, workers, labels, n_classes=n_classes)
        return vote.probas_, weights, names
    raise ValueError(f"unknown aggregator {method!r}")
