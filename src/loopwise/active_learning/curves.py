"""Learning curves and the metrics that compare them: pure functions over arrays.

A :class:`LearningCurve` is one simulation's test accuracy against labels used
(:func:`~loopwise.active_learning.simulate.simulate` makes them). Each metric says its direction:
:func:`normalised_aulc` (higher = better), :func:`labels_to_reach` (lower = better),
:func:`acceleration` (higher = better); :func:`compare` puts them together over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopwise.active_learning.base import FloatArray, IntArray
from loopwise.errors import InvalidInput


@dataclass(frozen=True)
class LearningCurve:
    """Test accuracy after each step of one simulation.

    ``labels[i]`` labels were used to train the model scored ``accuracy[i]``; ``labels`` starts at
    the initial set's size and ends at the budget.
    """

    strategy: str
    seed: int
    labels: IntArray
    accuracy: FloatArray
    query_seconds: float
    """Time spent choosing (the strategy and the scoring of the pool), summed over steps."""
    cold_steps: int
    """Steps chosen without a model (the labelled set held a single class)."""


@dataclass(frozen=True)
class CurveSummary:
    """Several seeds' curves over the same label counts: the mean and its spread."""

    labels: IntArray
    mean: FloatArray
    sd: FloatArray
    low: FloatArray
    high: FloatArray
    runs: int


@dataclass(frozen=True)
class StrategyReport:
    """One strategy over several seeds, against the full-data accuracy and the baseline."""

    strategy: str
    aulc: float
    """Mean over seeds of :func:`normalised_aulc` (higher = better)."""
    aulc_sd: float
    labels_to: dict[float, int | None]
    """Fraction of the full-data accuracy -> labels at which the mean curve first reaches it."""
    acceleration: dict[float, float | None]
    """Fraction -> baseline's labels over this strategy's (higher = better; 1 = as the baseline)."""
    lower_bound: dict[float, bool]
    """Fraction -> True when the baseline never reached it: ``acceleration`` is then at least the
    budget over this strategy's labels."""
    curve: CurveSummary
    query_seconds: float
    """Mean over seeds of the time spent choosing."""

    def to_json(self) -> dict[str, Any]:
        """``aulc``, ``aulc_sd``, then per fraction (95, 98, ...) ``labels95``, ``accel95`` and
        ``accel95_lower_bound``, then ``query_seconds`` and the mean ``curve`` with its spread
        (``labels``, ``mean``, ``sd``, ``low``, ``high``)."""
        out: dict[str, Any] = {"aulc": self.aulc, "aulc_sd": self.aulc_sd}
        for fraction in self.labels_to:
            key = round(fraction * 100)
            out[f"labels{key}"] = self.labels_to[fraction]
            out[f"accel{key}"] = self.acceleration[fraction]
            out[f"accel{key}_lower_bound"] = self.lower_bound[fraction]
        out["query_seconds"] = self.query_seconds
        out["curve"] = {
            "labels": self.curve.labels.tolist(),
            "mean": self.curve.mean.tolist(),
            "sd": self.curve.sd.tolist(),
            "low": self.curve.low.tolist(),
            "high": self.curve.high.tolist(),
        }
        return out


CurveLike = LearningCurve | CurveSummary | Sequence[tuple[float, float]]


def normalised_aulc(curve: CurveLike, budget: int) -> float:
    """The mean test accuracy over the labels spent: the area under accuracy against labels
    (trapezoid rule) from the curve's first label count to ``budget``, divided by that span.

    Range [0, 1]; **higher = better** (1: perfect from the first label). Beyond its last point a
    curve keeps its last accuracy; a point past ``budget`` is cut there by linear interpolation.
    A curve starting at ``budget`` scores its accuracy there.

    Raises
    ------
    InvalidInput
        An empty curve, label counts not increasing, or ``budget`` before the first point.
    """
    labels, accuracy = _points(curve)
    start = labels[0]
    if budget < start:
        raise InvalidInput(
            f"must be at least the curve's first label count ({start})", field="budget"
        )
    if budget == start:
        return float(accuracy[0])
    end_accuracy = float(np.interp(budget, labels, accuracy))
    keep = labels < budget
    xs = np.append(labels[keep], budget)
    ys = np.append(accuracy[keep], end_accuracy)
    area = float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))
    return area / float(budget - start)


def labels_to_reach(curve: CurveLike, target: float) -> int | None:
    """The first label count whose accuracy is at least ``target``; ``None`` if none is.

    **Lower = better** (fewer labels to the same accuracy).
    """
    labels, accuracy = _points(curve)
    reached = np.flatnonzero(accuracy >= target)
    return int(labels[reached[0]]) if reached.size else None


def acceleration(random_labels: float | None, strategy_labels: float | None) -> float | None:
    """How many times fewer labels a strategy needs than random sampling to reach an accuracy:
    ``random_labels / strategy_labels``.

    **Higher = better**; 1 = no better than random, 2 = half the labels. ``None`` when either
    count is ``None`` (never reached); pass the budget for random's to get a lower bound.
    """
    if random_labels is None or strategy_labels is None:
        return None
    if strategy_labels <= 0 or random_labels <= 0:
        raise InvalidInput("label counts must be positive", field="labels")
    return float(random_labels) / float(strategy_labels)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise InvalidInput("needs at least one value", field="values")
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), sd


def summarise(curves: Sequence[LearningCurve]) -> CurveSummary:
    """Pointwise mean, sample standard deviation, minimum and maximum of curves measured at the
    same label counts (seeds of one strategy).

    Raises
    ------
    InvalidInput
        No curve, or curves measured at different label counts.
    """
    if not curves:
        raise InvalidInput("needs at least one curve", field="curves")
    labels = curves[0].labels
    if any(not np.array_equal(c.labels, labels) for c in curves):
        raise InvalidInput("must be measured at the same label counts", field="curves")
    stack = np.vstack([c.accuracy for c in curves])
    sd = stack.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(len(labels))
    return CurveSummary(
        labels, stack.mean(axis=0), sd, stack.min(axis=0), stack.max(axis=0), len(curves)
    )


def compare(
    curves: Mapping[str, Sequence[LearningCurve]],
    *,
    full_accuracy: float,
    budget: int,
    fractions: Sequence[float] = (0.95, 0.98),
    baseline: str = "random",
) -> dict[str, StrategyReport]:
    """Each strategy's report: AULC over seeds, and on its mean curve the labels to reach each
    fraction of ``full_accuracy`` (the model trained on the whole pool) and the acceleration over
    ``baseline`` (absent baseline: no acceleration).
    """
    base = summarise(curves[baseline]) if baseline in curves else None
    out: dict[str, StrategyReport] = {}
    for name, runs in curves.items():
        summary = summarise(runs)
        aulc, aulc_sd = mean_sd([normalised_aulc(c, budget) for c in runs])
        reach: dict[float, int | None] = {}
        speedup: dict[float, float | None] = {}
        bound: dict[float, bool] = {}
        for fraction in fractions:
            target = fraction * full_accuracy
            reach[fraction] = labels_to_reach(summary, target)
            theirs = None if base is None else labels_to_reach(base, target)
            bound[fraction] = base is not None and theirs is None and reach[fraction] is not None
            speedup[fraction] = acceleration(budget if bound[fraction] else theirs, reach[fraction])
        seconds = float(np.mean([c.query_seconds for c in runs]))
        out[name] = StrategyReport(name, aulc, aulc_sd, reach, speedup, bound, summary, seconds)
    return out


def _points(curve: CurveLike) -> tuple[FloatArray, FloatArray]:
    if isinstance(curve, LearningCurve | CurveSummary):
        accuracy = curve.accuracy if isinstance(curve, LearningCurve) else curve.mean
        xs = np.asarray(curve.labels, dtype=np.float64)
        ys = np.asarray(accuracy, dtype=np.float64)
    else:
        pairs = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
        xs, ys = pairs[:, 0], pairs[:, 1]
    if xs.size == 0:
        raise InvalidInput("has no point", field="curve")
    if np.any(np.diff(xs) <= 0):
        raise InvalidInput("label counts must increase", field="curve")
    return xs, ys
