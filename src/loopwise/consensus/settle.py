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
from loopwise.consensus.dawid_skene import EPS, DawidSkene
from loopwise.consensus.majority_vote import MajorityVote

Answer = tuple[Hashable, str, int, int | None]
"""``(task key, reviewer, class index, gold class index or None)``."""


@dataclass(frozen=True, slots=True)
class Reliability:
    """How far each reviewer is to be trusted, fitted on history; what :func:`settle_with`
    settles further tasks with, without fitting again.

    ``method``: the aggregator. ``names``: reviewer -> row of the arrays. Dawid-Skene:
    ``errors`` ``(n_reviewers, n_classes, n_classes)``, P(answer | truth) per reviewer, and
    ``priors`` ``(n_classes,)``. Majority vote: ``weights`` ``(n_reviewers,)``, the gold
    log-odds weight. ``rows``: the answers it was fitted on.
    """

    method: str
    n_classes: int
    names: dict[str, int]
    rows: int
    errors: FloatArray | None = None
    priors: FloatArray | None = None
    weights: FloatArray | None = None


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
    reliability: Reliability | None = None
    """What the fit learned of the reviewers (:func:`settle` only), for :func:`settle_with`."""


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
    posteriors, skills, names, reliability = _fit(rows, n_classes, method, own=len(answers))
    return _consensus(answers, posteriors[0], skills, names, reliability)


def settle_with(answers: Sequence[tuple[str, int]], reliability: Reliability) -> Consensus:
    """Aggregate ``answers`` of one task with reviewers' reliability fitted before (by
    :func:`settle` on recent history), without fitting again: microseconds instead of an EM
    over thousands of answers.

    Dawid-Skene: the posterior is the prior times each answer's likelihood under its
    reviewer's confusion matrix (one E-step); a reviewer the fit never saw counts with the
    average matrix. Majority vote: the answers weighed by the fitted weights (an unseen
    reviewer weighs as one with no gold answers). The result is always a class at least one
    of the task's reviewers gave.
    """
    if not answers:
        raise ValueError("a task needs at least one answer to settle")
    k = reliability.n_classes
    if reliability.method == "dawid_skene":
        assert reliability.errors is not None
        assert reliability.priors is not None
        errors = reliability.errors
        average = errors.mean(axis=0) if len(errors) else np.full((k, k), 1.0 / k)
        log_post = np.log(np.clip(reliability.priors, EPS, 1.0))
        for reviewer, label in answers:
            row = reliability.names.get(reviewer)
            matrix = average if row is None else errors[row]
            log_post = log_post + np.log(np.clip(matrix[:, label], EPS, 1.0))
        post = np.exp(log_post - log_post.max())
        skills = np.einsum("c,wcc->w", reliability.priors, errors)
    elif reliability.method == "majority_vote":
        assert reliability.weights is not None
        unseen = math.log(2.0)  # gold_weights' weight of a reviewer with no gold answers
        weights = [
            unseen if (row := reliability.names.get(r)) is None else float(reliability.weights[row])
            for r, _ in answers
        ]
        if not any(weights):
            weights = [1.0] * len(answers)
        post = np.zeros(k)
        for weight, (_, label) in zip(weights, answers, strict=True):
            post[label] += weight
        skills = reliability.weights
    else:
        raise ValueError(f"unknown aggregator {reliability.method!r}")
    total = post.sum()
    posterior = post / total if total > 0 else np.full(k, 1.0 / k)
    return _consensus(answers, posterior, skills, list(reliability.names), reliability)


def _consensus(
    answers: Sequence[tuple[str, int]],
    posterior: FloatArray,
    skills: FloatArray,
    names: Sequence[str],
    reliability: Reliability | None,
) -> Consensus:
    probas = _only_given(posterior, [label for _, label in answers])
    label = int(np.argmax(probas))
    agreement = sum(1 for _, given in answers if given == label) / len(answers)
    return Consensus(
        label=label,
        probabilities=np.asarray(probas, dtype=np.float64),
        agreement=agreement,
        confidence=float(probas[label]),
        skills={name: float(skills[i]) for i, name in enumerate(names)},
        reliability=reliability,
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
    _, skills, names, _ = _fit(list(history), n_classes, method, own=len(history))
    return {name: float(skills[i]) for i, name in enumerate(names)}


def _fit(
    rows: list[Answer], n_classes: int, method: str, *, own: int
) -> tuple[FloatArray, FloatArray, list[str], Reliability]:
    """Fit the aggregator on ``rows``: posteriors per task (first row's task first), skills
    per reviewer, reviewer names, and the reliability learned. ``own``: rows that must carry
    weight under majority vote (all weights zero there falls back to equal weights)."""
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
        learned = Reliability(
            method, n_classes, reviewer_index, len(rows), errors=ds.errors_, priors=ds.priors_
        )
        return ds.probas_, ds.skills_, names, learned
    if method == "majority_vote":
        weights = gold_weights(rows, names)
        learned = Reliability(method, n_classes, reviewer_index, len(rows), weights=weights)
        if not weights[workers[:own]].any():
            weights = np.ones(len(names))
        vote = MajorityVote(weights).fit(tasks, workers, labels, n_classes=n_classes)
        return vote.probas_, weights, names, learned
    raise ValueError(f"unknown aggregator {method!r}")
