"""Routing: tiers, thresholds, reasons and priority scores, on small and large batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.core.enums import Priority, Route
from loopwise.core.policy import RoutingConfig
from loopwise.routing import (
    ConfidenceThresholdRule,
    NoModelRule,
    RoutingBatch,
    RoutingOutcome,
    RoutingPolicy,
    Rule,
)
from loopwise.routing.rules import Votes

LABELS = ("ham", "spam")


def route(
    rows: list[list[float]] | None,
    *,
    auto: float = 0.9,
    expert: float | None = None,
    n: int | None = None,
) -> RoutingOutcome:
    policy = RoutingPolicy.from_config(RoutingConfig(auto_threshold=auto, expert_threshold=expert))
    probs = None if rows is None else np.asarray(rows, dtype=np.float64)
    size = n if n is not None else (0 if rows is None else len(rows))
    return policy.route(RoutingBatch(LABELS, probs, size))


class AlwaysExpert(Rule):
    """A plug-in rule that sends every row to an expert."""

    name = "always_expert"

    def apply(self, batch: RoutingBatch, votes: Votes, bit: int) -> None:
        votes.tier[:] = 2
        votes.reason_bits |= np.uint32(1 << bit)

    def describe(self, batch: RoutingBatch, row: int) -> str:
        return "every item goes to an expert"


class ScanCountingArray(np.ndarray[Any, np.dtype[np.float64]]):
    """Probabilities that record every time a whole matrix of them is reduced with ``max``."""

    scans: list[int]

    def __array_finalize__(self, obj: Any) -> None:
        self.scans = getattr(obj, "scans", [])

    def max(self, *args: Any, **kwargs: Any) -> Any:
        if self.ndim == 2:
            self.scans.append(self.shape[0])
        return np.asarray(self).max(*args, **kwargs)


class TestNoModel:
    def test_every_row_goes_to_a_person(self) -> None:
        outcome = route(None, n=4)
        assert outcome.routes == (Route.HUMAN,) * 4
        assert [outcome.reasons(i) for i in range(4)] == [("no production model yet",)] * 4

    def test_priority_is_normal_and_the_score_maximal(self) -> None:
        outcome = route(None, n=3)
        assert outcome.priority.tolist() == [int(Priority.NORMAL)] * 3
        assert outcome.priority_score.tolist() == [1.0, 1.0, 1.0]

    def test_the_expert_threshold_does_not_apply_without_a_model(self) -> None:
        outcome = route(None, expert=0.6, n=2)
        assert outcome.routes == (Route.HUMAN, Route.HUMAN)

    def test_an_empty_batch_routes_nothing(self) -> None:
        outcome = route(None, n=0)
        assert outcome.routes == ()
        assert outcome.priority_score.shape == (0,)


class TestConfidenceThreshold:
    def test_confidence_exactly_at_the_threshold_is_auto(self) -> None:
        outcome = route([[0.75, 0.25], [0.25, 0.75], [0.7499, 0.2501]], auto=0.75)
        assert outcome.routes == (Route.AUTO, Route.AUTO, Route.HUMAN)

    def test_the_default_threshold_boundary(self) -> None:
        outcome = route([[0.9, 0.1], [0.1, 0.9], [0.89, 0.11], [0.95, 0.05]])
        assert outcome.routes == (Route.AUTO, Route.AUTO, Route.HUMAN, Route.AUTO)

    def test_expert_threshold(self) -> None:
        outcome = route(
            [[0.95, 0.05], [0.7, 0.3], [0.6, 0.4], [0.55, 0.45], [0.5, 0.5]],
            auto=0.9,
            expert=0.6,
        )
        assert outcome.routes == (
            Route.AUTO,
            Route.HUMAN,
            Route.HUMAN,  # exactly at the expert threshold: not below it
            Route.EXPERT,
            Route.EXPERT,
        )

    def test_reasons_say_why(self) -> None:
        outcome = route([[0.95, 0.05], [0.3, 0.7], [0.45, 0.55]], auto=0.9, expert=0.6)
        assert outcome.reasons(0) == ("confidence 0.950 at or above threshold 0.900",)
        assert outcome.reasons(1) == ("confidence 0.700 below threshold 0.900",)
        assert outcome.reasons(2) == (
            "confidence 0.550 below threshold 0.900",
            "confidence 0.550 below expert threshold 0.600",
        )

    def test_priority_score_is_the_normalised_entropy(self) -> None:
        outcome = route([[0.5, 0.5], [1.0, 0.0], [0.9, 0.1]])
        # -(0.9 ln 0.9 + 0.1 ln 0.1) / ln 2 = 0.468996
        assert outcome.priority_score == pytest.approx([1.0, 0.0, 0.468996], abs=1e-6)
        assert outcome.priority.tolist() == [int(Priority.NORMAL)] * 3

    def test_a_threshold_of_zero_decides_everything(self) -> None:
        outcome = route([[0.5, 0.5], [0.6, 0.4]], auto=0.0)
        assert outcome.routes == (Route.AUTO, Route.AUTO)

    def test_a_threshold_of_one_sends_everything_to_people(self) -> None:
        outcome = route([[0.6, 0.4], [1.0, 0.0]], auto=1.0)
        assert outcome.routes == (Route.HUMAN, Route.HUMAN)


class TestPolicy:
    def test_from_config_keeps_the_version_and_orders_the_rules(self) -> None:
        policy = RoutingPolicy.from_config(RoutingConfig(auto_threshold=0.8, version=7))
        assert policy.version == 7
        assert policy.auto_threshold == 0.8
        assert [rule.name for rule in policy.rules] == ["no_model", "confidence", "ood"]

    def test_rules_raise_the_tier_but_never_lower_it(self) -> None:
        policy = RoutingPolicy(
            rules=[AlwaysExpert(), ConfidenceThresholdRule(0.9)], auto_threshold=0.9
        )
        batch = RoutingBatch(LABELS, np.asarray([[0.99, 0.01], [0.6, 0.4]]), 2)
        outcome = policy.route(batch)
        assert outcome.routes == (Route.EXPERT, Route.EXPERT)
        assert outcome.reasons(0) == ("every item goes to an expert",)
        assert outcome.reasons(1) == (
            "every item goes to an expert",
            "confidence 0.600 below threshold 0.900",
        )

    def test_no_model_rule_is_silent_when_there_is_a_model(self) -> None:
        policy = RoutingPolicy(rules=[NoModelRule()], auto_threshold=0.5)
        outcome = policy.route(RoutingBatch(LABELS, np.asarray([[0.5, 0.5]]), 1))
        assert outcome.routes == (Route.AUTO,)
        assert outcome.reason_bits.tolist() == [0]

    def test_at_most_32_rules(self) -> None:
        policy = RoutingPolicy(rules=[NoModelRule()] * 33, auto_threshold=0.9)
        with pytest.raises(ValueError, match="at most 32 rules"):
            policy.route(RoutingBatch(LABELS, None, 1))


def test_a_large_batch_routes_like_a_simple_loop() -> None:
    rng = np.random.default_rng(2024)
    n, auto, expert = 100_000, 0.8, 0.5
    probs: npt.NDArray[np.float64] = rng.dirichlet(np.full(3, 0.6), size=n)
    probs[:3] = [[0.8, 0.1, 0.1], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]  # exact boundaries
    policy = RoutingPolicy.from_config(RoutingConfig(auto_threshold=auto, expert_threshold=expert))
    outcome = policy.route(RoutingBatch(("a", "b", "c"), probs, n))

    assert len(outcome.routes) == n
    assert outcome.priority_score.shape == (n,)
    sample = [0, 1, 2, *rng.choice(n, size=2000, replace=False).tolist()]
    for i in sample:
        top = max(probs[i].tolist())
        expected = Route.EXPERT if top < expert else Route.HUMAN if top < auto else Route.AUTO
        assert outcome.routes[i] is expected, f"row {i}: confidence {top}"
        plogp = [p * np.log(p) for p in probs[i].tolist() if p > 0]
        assert outcome.priority_score[i] == pytest.approx(-sum(plogp) / np.log(3))
    assert outcome.routes[:3] == (Route.AUTO, Route.HUMAN, Route.AUTO)
    assert outcome.reasons(0) == ("confidence 0.800 at or above threshold 0.800",)
    assert outcome.reasons(1) == ("confidence 0.500 below threshold 0.800",)
    for i in sample[3:23]:
        top = max(probs[i].tolist())
        if top < expert:
            expected_reason = f"confidence {top:.3f} below expert threshold 0.500"
        elif top < auto:
            expected_reason = f"confidence {top:.3f} below threshold 0.800"
        else:
            expected_reason = f"confidence {top:.3f} at or above threshold 0.800"
        assert outcome.reasons(i) == (expected_reason,)
    counts = {r: outcome.routes.count(r) for r in Route}
    assert sum(counts.values()) == n
    assert min(counts.values()) > 1000, "the sample should exercise every tier"


def test_rendering_every_rows_reasons_scans_the_batch_a_bounded_number_of_times() -> None:
    n = 1000
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(2), size=n).view(ScanCountingArray)
    probs.scans = []
    outcome = RoutingPolicy.from_config(RoutingConfig()).route(RoutingBatch(LABELS, probs, n))
    reasons = [outcome.reasons(i) for i in range(n)]
    assert all(len(r) == 1 for r in reasons)
    assert len(probs.scans) <= 3, f"{len(probs.scans)} full scans of a {n}-row batch"


def test_reasons_and_rules_of_every_row_at_once_are_those_of_each_row() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    probs: npt.NDArray[np.float64] = rng.dirichlet(np.full(3, 0.7), size=n)
    config = RoutingConfig.model_validate(
        {
            "auto_threshold": 0.8,
            "expert_threshold": 0.4,
            "class_thresholds": {"b": 0.9},
            "always_review": ["c"],
            "qa_sample": 0.1,
            "rules": [{"name": "big", "when": "amount > 500", "priority": "high"}],
        }
    )
    batch = RoutingBatch(
        ("a", "b", "c"),
        probs,
        n,
        fields={"amount": rng.uniform(0, 1000, size=n)},
        ood_score=rng.uniform(0, 1, size=n),
        ood_threshold=0.9,
        keys=rng.uniform(0, 1, size=n),
    )
    outcome = RoutingPolicy.from_config(config, ("a", "b", "c")).route(batch)

    assert outcome.all_reasons() == [outcome.reasons(i) for i in range(n)]
    assert outcome.all_rules() == [outcome.rules(i) for i in range(n)]
    assert len({len(r) for r in outcome.all_rules()}) >= 3, "rows should fire several rules"
