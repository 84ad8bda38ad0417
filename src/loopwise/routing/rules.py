"""The routing rules: one small class each, voting on whole arrays.

A rule raises the tier of the rows it matches (0 auto, 1 human, 2 expert; never lowers it),
may make their priority more urgent, and sets its reason bit; ``describe`` says in words why it
matched one row. Scores are read from the :class:`RoutingBatch`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.core.enums import Priority
from loopwise.core.policy import AllOf, AnyOf, Condition, RuleSpec
from loopwise.scoring import confidence as confidence_of

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
PRIORITY = {p.name.lower(): int(p) for p in Priority}
TIER = {"human": 1, "expert": 2}


@dataclass(frozen=True)
class RoutingBatch:
    """What the rules see for ``n`` predictions.

    Parameters
    ----------
    probabilities:
        Calibrated class probabilities ``(n, k)`` aligned with ``labels``; ``None`` without a
        production model.
    raw_confidence:
        The model's own top-class probability ``(n,)``, the score a certified threshold was
        certified on; defaults to the top calibrated probability.
    fields:
        Item metadata as columns (name -> array of length ``n``), for business rules.
    ood_score, ood_threshold:
        Out-of-distribution scores (higher = more anomalous) and the model's cut-off.
    keys:
        A stable number in [0, 1) per item (from its id) so QA sampling is reproducible.
    predicted_index:
        The model's own predicted class per row; defaults to the top calibrated class. Given
        when calibration could reorder classes (one-vs-rest isotonic or sigmoid), so the
        decision stays the model's and confidence is the calibrated probability of it.
    """

    labels: tuple[str, ...]
    probabilities: FloatArray | None
    n: int
    raw_confidence: FloatArray | None = None
    fields: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    ood_score: FloatArray | None = None
    ood_threshold: float | None = None
    keys: FloatArray | None = None
    predicted_index: npt.NDArray[np.int64] | None = None

    @cached_property
    def confidence(self) -> FloatArray:
        """Calibrated probability of the predicted class (zeros without a model); once."""
        if self.probabilities is None:
            return np.zeros(self.n)
        if self.predicted_index is not None:
            return np.asarray(
                self.probabilities[np.arange(self.n), self.predicted_index], dtype=np.float64
            )
        return confidence_of(self.probabilities)

    @cached_property
    def model_confidence(self) -> FloatArray:
        return self.confidence if self.raw_confidence is None else self.raw_confidence

    @cached_property
    def predicted(self) -> npt.NDArray[np.int64]:
        if self.probabilities is None:
            return np.full(self.n, -1, dtype=np.int64)
        if self.predicted_index is not None:
            return self.predicted_index
        return np.asarray(self.probabilities.argmax(axis=1), dtype=np.int64)


@dataclass
class Votes:
    """Mutable per-row state the rules write into.

    ``priority`` starts at NORMAL; the first rule that names a priority for a row replaces it
    (so a rule can ask for LOW), later ones can only make it more urgent.
    """

    tier: npt.NDArray[np.int8]
    priority: npt.NDArray[np.int8]
    reason_bits: npt.NDArray[np.uint32]
    prioritised: BoolArray

    @classmethod
    def empty(cls, n: int) -> Votes:
        return cls(
            tier=np.zeros(n, dtype=np.int8),
            priority=np.full(n, int(Priority.NORMAL), dtype=np.int8),
            reason_bits=np.zeros(n, dtype=np.uint32),
            prioritised=np.zeros(n, dtype=bool),
        )

    def mark(self, rows: BoolArray, bit: int, tier: int, priority: int | None = None) -> None:
        """Raise ``rows`` to at least ``tier``; give them ``priority`` (the most urgent wins)."""
        if not rows.any():
            return
        np.maximum(self.tier, np.where(rows, np.int8(tier), np.int8(0)), out=self.tier)
        if priority is not None:
            first = rows & ~self.prioritised
            again = rows & self.prioritised
            self.priority[first] = priority
            self.priority[again] = np.minimum(self.priority[again], priority)
            self.prioritised |= rows
        self.reason_bits[rows] |= np.uint32(1 << bit)


class Rule(ABC):
    """One routing condition. Subclasses set ``name`` and implement ``apply`` and ``describe``."""

    name: str = "rule"

    @abstractmethod
    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        """Mark matching rows in ``votes`` (raising their tier) with reason ``bit``."""

    @abstractmethod
    def describe(self, batch: RoutingBatch, row: int) -> str:
        """Say in words why this rule matched ``row``."""


class NoModelRule(Rule):
    """Without a production model nothing can be decided automatically."""

    name = "no_model"

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None:
            votes.mark(np.ones(batch.n, dtype=bool), bit, 1)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        return "no production model yet"


@dataclass
class ConfidenceThresholdRule(Rule):
    """Below ``auto_threshold`` (calibrated confidence) to people; 1.0 or more reviews all."""

    auto_threshold: float
    name: str = field(default="confidence", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None:
            return
        if self.auto_threshold >= 1.0:
            low = np.ones(batch.n, dtype=bool)
        else:
            low = batch.confidence < self.auto_threshold
        votes.mark(low, bit, 1)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        if self.auto_threshold >= 1.0:
            return f"threshold {self.auto_threshold:.3f}: every prediction is reviewed"
        conf = float(batch.confidence[row])
        return f"confidence {conf:.3f} below threshold {self.auto_threshold:.3f}"


@dataclass
class CertifiedThresholdRule(Rule):
    """Below the certified threshold (on the model's own confidence) to people.

    ``threshold`` is ``inf`` when the target could not be certified: everything is reviewed.
    """

    threshold: float
    explanation: str
    name: str = field(default="certified_threshold", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None:
            return
        votes.mark(batch.model_confidence < self.threshold, bit, 1)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        if not math.isfinite(self.threshold):
            return self.explanation
        conf = float(batch.model_confidence[row])
        if not math.isfinite(conf):
            return (
                "scored by the caller's model: the certified threshold holds for loopwise's own "
                "model only, so people check it"
            )
        return f"model confidence {conf:.4f} below certified threshold {self.threshold:.4f}"


@dataclass
class ExpertThresholdRule(Rule):
    """Calibrated confidence below ``threshold`` goes straight to an expert."""

    threshold: float
    name: str = field(default="expert_threshold", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is not None:
            votes.mark(batch.confidence < self.threshold, bit, 2)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        conf = float(batch.confidence[row])
        return f"confidence {conf:.3f} below expert threshold {self.threshold:.3f}"


@dataclass
class ClassThresholdRule(Rule):
    """A predicted class needs at least its own calibrated confidence to be auto-decided."""

    thresholds: Mapping[str, float]
    name: str = field(default="class_threshold", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None or not self.thresholds:
            return
        per_class = np.array([self.thresholds.get(label, 0.0) for label in batch.labels])
        votes.mark(batch.confidence < per_class[batch.predicted], bit, 1)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        label = batch.labels[int(batch.predicted[row])]
        conf = float(batch.confidence[row])
        return f"confidence {conf:.3f} below the {label!r} threshold {self.thresholds[label]:.3f}"


@dataclass
class AlwaysReviewRule(Rule):
    """Predictions of these classes are always checked by a person."""

    classes: Sequence[str]
    name: str = field(default="always_review", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.probabilities is None or not self.classes:
            return
        flagged = np.array([label in self.classes for label in batch.labels])
        votes.mark(flagged[batch.predicted], bit, 1)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        return f"predicted {batch.labels[int(batch.predicted[row])]!r}, a class people always check"


@dataclass
class OODRule(Rule):
    """Inputs unlike the training data (score above the model's cut-off) go to review."""

    tier: int = 1
    priority: int = int(Priority.HIGH)
    name: str = field(default="ood", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if batch.ood_score is None or batch.ood_threshold is None:
            return
        votes.mark(batch.ood_score > batch.ood_threshold, bit, self.tier, self.priority)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        assert batch.ood_score is not None
        assert batch.ood_threshold is not None
        return (
            f"anomalous input: out-of-distribution score {float(batch.ood_score[row]):.3f} above "
            f"{batch.ood_threshold:.3f}"
        )


def _truthy(column: npt.NDArray[Any]) -> BoolArray:
    if column.dtype.kind == "b":
        return np.asarray(column, dtype=bool)
    if column.dtype.kind in "fiu":
        with np.errstate(invalid="ignore"):
            return np.asarray((column != 0) & ~np.isnan(column.astype(np.float64)), dtype=bool)
    return np.fromiter((bool(v) and v is not None for v in column), dtype=bool, count=len(column))


def _numbers(column: npt.NDArray[Any]) -> FloatArray:
    if column.dtype.kind in "fiu":
        return np.asarray(column, dtype=np.float64)
    return np.fromiter(
        (
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
            for v in column
        ),
        dtype=np.float64,
        count=len(column),
    )


def evaluate(
    condition: Condition | AllOf | AnyOf, fields: Mapping[str, npt.NDArray[Any]], n: int
) -> BoolArray:
    """Rows whose metadata satisfy ``condition``; a missing field matches only ``missing``."""
    if isinstance(condition, AllOf):
        out = np.ones(n, dtype=bool)
        for part in condition.all:
            out &= evaluate(part, fields, n)
        return out
    if isinstance(condition, AnyOf):
        out = np.zeros(n, dtype=bool)
        for part in condition.any:
            out |= evaluate(part, fields, n)
        return out
    column = fields.get(condition.field)
    if column is None:
        column = np.full(n, None, dtype=object)
    op, value = condition.op, condition.value
    numeric = column.dtype.kind in "fiu"
    if numeric:
        present = ~np.isnan(column.astype(np.float64))
    elif column.dtype.kind == "b":
        present = np.ones(n, dtype=bool)
    else:
        present = np.fromiter((v is not None for v in column), dtype=bool, count=n)
    if op == "exists":
        return present
    if op == "missing":
        return ~present
    if op == "true":
        return _truthy(column)
    if op in ("in", "not in"):
        inside = np.fromiter((v in value for v in column), dtype=bool, count=n)
        return np.asarray(inside & present if op == "in" else ~inside & present, dtype=bool)
    if op in ("==", "!=") and numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            equal = np.zeros(n, dtype=bool)
        else:
            equal = np.asarray(column == value, dtype=bool)
        return equal if op == "==" else ~equal & present
    if op in ("==", "!="):
        equal = np.fromiter((v == value and v is not None for v in column), dtype=bool, count=n)
        return equal if op == "==" else ~equal & present
    numbers = _numbers(column)
    with np.errstate(invalid="ignore"):
        compare = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[op]
        return np.asarray(compare(numbers, float(value)), dtype=bool)


def _condition_text(condition: Condition | AllOf | AnyOf) -> str:
    if isinstance(condition, AllOf):
        return " and ".join(_condition_text(c) for c in condition.all)
    if isinstance(condition, AnyOf):
        return " or ".join(_condition_text(c) for c in condition.any)
    if condition.op in ("exists", "missing", "true"):
        return f"{condition.field} {'is true' if condition.op == 'true' else condition.op}"
    return f"{condition.field} {condition.op} {condition.value!r}"


@dataclass
class FieldRule(Rule):
    """A business rule from the policy: matching metadata sends the item to ``spec.route``."""

    spec: RuleSpec

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"rule:{self.spec.name}"

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        matched = evaluate(self.spec.when, batch.fields, batch.n)
        votes.mark(matched, bit, TIER[self.spec.route], PRIORITY[self.spec.priority])

    def describe(self, batch: RoutingBatch, row: int) -> str:
        return f"rule {self.spec.name!r}: {_condition_text(self.spec.when)}"


@dataclass
class QASampleRule(Rule):
    """A stable random share of the items that would be auto-decided is reviewed anyway, so
    the accuracy of automatic decisions is measured without bias. Must run last."""

    rate: float
    name: str = field(default="qa_sample", init=False)

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        if self.rate <= 0 or batch.probabilities is None:
            return
        keys = batch.keys if batch.keys is not None else np.random.default_rng(0).random(batch.n)
        sample = (votes.tier == 0) & (keys < self.rate)
        votes.mark(sample, bit, 1, int(Priority.LOW))

    def describe(self, batch: RoutingBatch, row: int) -> str:
        return f"random QA sample ({self.rate:.1%} of automatic decisions are checked)"
