"""Each routing rule on small hand-made batches, metadata conditions, and how votes combine."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.core.enums import Priority, Route
from loopwise.core.policy import AllOf, AnyOf, Condition, OODSpec, RoutingConfig, RuleSpec
from loopwise.routing import (
    AlwaysReviewRule,
    Certificate,
    CertifiedThresholdRule,
    ClassThresholdRule,
    ConfidenceThresholdRule,
    ExpertThresholdRule,
    FieldRule,
    NoModelRule,
    OODRule,
    QASampleRule,
    RoutingBatch,
    RoutingPolicy,
    Rule,
)
from loopwise.routing.rules import Votes, evaluate

LABELS = ("ham", "spam", "fraud")
URGENT, HIGH, NORMAL, LOW = (int(p) for p in list(Priority)[:4])


def probs(*rows: list[float]) -> npt.NDArray[np.float64]:
    return np.asarray(rows, dtype=np.float64)


def batch(rows: list[list[float]] | None, n: int | None = None, **kwargs: Any) -> RoutingBatch:
    p = None if rows is None else probs(*rows)
    size = n if n is not None else (0 if rows is None else len(rows))
    return RoutingBatch(LABELS, p, size, **kwargs)


def vote(rule: Rule, b: RoutingBatch, bit: int = 0) -> Votes:
    votes = Votes.empty(b.n)
    rule.apply(b, votes, bit)
    return votes


def column(*values: Any) -> npt.NDArray[Any]:
    """An object column as the services build them from item metadata (None when absent)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def matched(votes: Votes, bit: int = 0) -> list[bool]:
    return [bool(b & (1 << bit)) for b in votes.reason_bits.tolist()]


class TestNoModelRule:
    def test_everything_goes_to_a_person_without_a_model(self) -> None:
        votes = vote(NoModelRule(), batch(None, n=3), bit=2)
        assert votes.tier.tolist() == [1, 1, 1]
        assert votes.priority.tolist() == [NORMAL] * 3
        assert votes.reason_bits.tolist() == [4, 4, 4]

    def test_silent_with_a_model(self) -> None:
        votes = vote(NoModelRule(), batch([[0.2, 0.3, 0.5]]))
        assert votes.tier.tolist() == [0]
        assert votes.reason_bits.tolist() == [0]


class TestConfidenceThresholdRule:
    def test_below_the_threshold_goes_to_a_person(self) -> None:
        b = batch([[0.8, 0.1, 0.1], [0.1, 0.85, 0.05], [0.79, 0.2, 0.01]])
        votes = vote(ConfidenceThresholdRule(0.8), b)
        assert votes.tier.tolist() == [0, 0, 1]  # 0.8 is not below 0.8
        assert matched(votes) == [False, False, True]
        rule = ConfidenceThresholdRule(0.8)
        assert rule.describe(b, 2) == "confidence 0.790 below threshold 0.800"

    def test_a_threshold_of_one_reviews_even_certain_predictions(self) -> None:
        b = batch([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
        rule = ConfidenceThresholdRule(1.0)
        assert vote(rule, b).tier.tolist() == [1, 1]
        assert rule.describe(b, 0) == "threshold 1.000: every prediction is reviewed"

    def test_does_nothing_without_a_model(self) -> None:
        assert vote(ConfidenceThresholdRule(0.9), batch(None, n=2)).tier.tolist() == [0, 0]


class TestCertifiedThresholdRule:
    def test_a_finite_threshold_on_the_calibrated_confidence_by_default(self) -> None:
        b = batch([[0.95, 0.03, 0.02], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
        rule = CertifiedThresholdRule(0.8, "certified")
        votes = vote(rule, b)
        assert votes.tier.tolist() == [0, 1, 0]
        assert rule.describe(b, 1) == "model confidence 0.6000 below certified threshold 0.8000"

    def test_uses_the_raw_model_confidence_when_given(self) -> None:
        # calibrated confidences 0.95, 0.6, 0.8; the model's own 0.7, 0.9, 0.8
        b = batch(
            [[0.95, 0.03, 0.02], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]],
            raw_confidence=np.asarray([0.7, 0.9, 0.8]),
        )
        rule = CertifiedThresholdRule(0.8, "certified")
        votes = vote(rule, b)
        assert votes.tier.tolist() == [1, 0, 0]
        assert rule.describe(b, 0) == "model confidence 0.7000 below certified threshold 0.8000"

    def test_callers_probabilities_marked_minus_infinity_never_pass(self) -> None:
        b = batch([[1.0, 0.0, 0.0]], raw_confidence=np.asarray([-np.inf]))
        assert vote(CertifiedThresholdRule(0.0, "certified"), b).tier.tolist() == [1]

    def test_an_infinite_threshold_reviews_everything_and_says_why(self) -> None:
        b = batch([[1.0, 0.0, 0.0], [0.4, 0.3, 0.3]])
        rule = CertifiedThresholdRule(float("inf"), "no certificate: everything is reviewed")
        assert vote(rule, b).tier.tolist() == [1, 1]
        assert rule.describe(b, 0) == "no certificate: everything is reviewed"

    def test_does_nothing_without_a_model(self) -> None:
        rule = CertifiedThresholdRule(float("inf"), "x")
        assert vote(rule, batch(None, n=2)).tier.tolist() == [0, 0]


class TestExpertThresholdRule:
    def test_below_goes_to_an_expert(self) -> None:
        b = batch([[0.5, 0.3, 0.2], [0.49, 0.31, 0.2], [0.9, 0.05, 0.05]])
        rule = ExpertThresholdRule(0.5)
        votes = vote(rule, b)
        assert votes.tier.tolist() == [0, 2, 0]
        assert votes.priority.tolist() == [NORMAL] * 3
        assert rule.describe(b, 1) == "confidence 0.490 below expert threshold 0.500"

    def test_does_nothing_without_a_model(self) -> None:
        assert vote(ExpertThresholdRule(0.9), batch(None, n=1)).tier.tolist() == [0]


class TestClassThresholdRule:
    def test_each_predicted_class_is_held_to_its_own_threshold(self) -> None:
        b = batch(
            [
                [0.1, 0.96, 0.04],  # spam at 0.96 < 0.97
                [0.02, 0.98, 0.0],  # spam at 0.98: passes
                [0.6, 0.3, 0.1],  # ham has no class threshold
                [0.0, 0.1, 0.9],  # fraud at 0.9 < 0.95
            ]
        )
        rule = ClassThresholdRule({"spam": 0.97, "fraud": 0.95})
        votes = vote(rule, b)
        assert votes.tier.tolist() == [1, 0, 0, 1]
        assert rule.describe(b, 0) == "confidence 0.960 below the 'spam' threshold 0.970"
        assert rule.describe(b, 3) == "confidence 0.900 below the 'fraud' threshold 0.950"

    def test_no_thresholds_or_no_model_do_nothing(self) -> None:
        assert vote(ClassThresholdRule({}), batch([[0.4, 0.3, 0.3]])).tier.tolist() == [0]
        assert vote(ClassThresholdRule({"ham": 1.0}), batch(None, n=1)).tier.tolist() == [0]


class TestAlwaysReviewRule:
    def test_predicted_classes_on_the_list_go_to_a_person(self) -> None:
        b = batch([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1]])
        rule = AlwaysReviewRule(["fraud"])
        votes = vote(rule, b)
        assert votes.tier.tolist() == [1, 0, 1, 0]
        assert rule.describe(b, 0) == "predicted 'fraud', a class people always check"

    def test_an_empty_list_or_no_model_do_nothing(self) -> None:
        assert vote(AlwaysReviewRule([]), batch([[0.0, 0.0, 1.0]])).tier.tolist() == [0]
        assert vote(AlwaysReviewRule(["fraud"]), batch(None, n=1)).tier.tolist() == [0]


class TestOODRule:
    def test_scores_above_the_cut_off_go_to_review_at_high_priority(self) -> None:
        b = batch([[1.0, 0.0, 0.0]] * 3, ood_score=np.asarray([0.5, 2.0, 1.0]), ood_threshold=1.0)
        rule = OODRule()
        votes = vote(rule, b)
        assert votes.tier.tolist() == [0, 1, 0]  # at the cut-off is not above it
        assert votes.priority.tolist() == [NORMAL, HIGH, NORMAL]
        assert rule.describe(b, 1) == (
            "anomalous input: out-of-distribution score 2.000 above 1.000"
        )

    def test_tier_and_priority_come_from_the_spec(self) -> None:
        config = RoutingConfig(ood=OODSpec(route="expert", priority="urgent"))
        policy = RoutingPolicy.from_config(config)
        rule = policy.rules[-1]
        assert isinstance(rule, OODRule)
        assert (rule.tier, rule.priority) == (2, URGENT)
        b = batch([[1.0, 0.0, 0.0]] * 2, ood_score=np.asarray([3.0, 0.0]), ood_threshold=1.0)
        outcome = policy.route(b)
        assert outcome.routes == (Route.EXPERT, Route.AUTO)
        assert outcome.priority.tolist() == [URGENT, NORMAL]

    def test_without_scores_it_does_nothing(self) -> None:
        b = batch([[1.0, 0.0, 0.0]], ood_score=np.asarray([9.0]))
        assert vote(OODRule(), b).tier.tolist() == [0]
        assert vote(OODRule(), batch([[1.0, 0.0, 0.0]])).tier.tolist() == [0]


class TestEvaluate:
    FIELDS: ClassVar[dict[str, npt.NDArray[Any]]] = {
        "amount": column(5, 10, 20.5, None, "lots", True),
        "tier": column("vip", "basic", None, "vip", 3, "VIP"),
        "audit": column(True, False, None, 1, "", 0),
        "customer.country": column("FR", "DE", "US", None, "FR", ["FR"]),
    }

    def check(self, condition: Condition | AllOf | AnyOf) -> list[bool]:
        out: list[bool] = evaluate(condition, self.FIELDS, 6).tolist()
        return out

    @pytest.mark.parametrize(
        ("op", "value", "expected"),
        [
            # amount: 5, 10, 20.5, None, "lots", True  (None, text and booleans are not numbers)
            (">", 10, [False, False, True, False, False, False]),
            (">=", 10, [False, True, True, False, False, False]),
            ("<", 10, [True, False, False, False, False, False]),
            ("<=", 10, [True, True, False, False, False, False]),
            ("<=", 1, [False, False, False, False, False, False]),
            ("==", 10, [False, True, False, False, False, False]),
            ("!=", 10, [True, False, True, False, True, True]),
            ("in", [5, 20.5], [True, False, True, False, False, False]),
            ("not in", [5, 20.5], [False, True, False, False, True, True]),
            ("exists", None, [True, True, True, False, True, True]),
            ("missing", None, [False, False, False, True, False, False]),
            ("true", None, [True, True, True, False, True, True]),
        ],
    )
    def test_every_operator_on_a_mixed_column(
        self, op: str, value: Any, expected: list[bool]
    ) -> None:
        assert self.check(Condition(field="amount", op=op, value=value)) == expected

    @pytest.mark.parametrize(
        ("op", "value", "expected"),
        [
            # tier: "vip", "basic", None, "vip", 3, "VIP"
            ("==", "vip", [True, False, False, True, False, False]),
            ("!=", "vip", [False, True, False, False, True, True]),
            ("in", ["vip", "basic"], [True, True, False, True, False, False]),
            ("not in", ["vip"], [False, True, False, False, True, True]),
            (">", 2, [False, False, False, False, True, False]),
        ],
    )
    def test_text_column(self, op: str, value: Any, expected: list[bool]) -> None:
        assert self.check(Condition(field="tier", op=op, value=value)) == expected

    def test_truthiness(self) -> None:
        # audit: True, False, None, 1, "", 0
        assert self.check(Condition(field="audit", op="true")) == [
            True,
            False,
            False,
            True,
            False,
            False,
        ]

    def test_dotted_field_names_are_columns_too(self) -> None:
        condition = Condition(field="customer.country", op="in", value=["FR"])
        # a list value is not "in" ["FR"] (it is not equal to "FR")
        assert self.check(condition) == [True, False, False, False, True, False]

    @pytest.mark.parametrize(
        ("op", "value"),
        [
            (">", 0),
            ("<", 0),
            ("==", None),
            ("==", "x"),
            ("!=", "x"),
            ("in", ["x"]),
            ("not in", ["x"]),
            ("exists", None),
            ("true", None),
        ],
    )
    def test_a_missing_field_matches_only_missing(self, op: str, value: Any) -> None:
        condition = Condition(field="nowhere", op=op, value=value)
        assert evaluate(condition, self.FIELDS, 6).tolist() == [False] * 6
        assert evaluate(Condition(field="nowhere", op="missing"), {}, 2).tolist() == [True] * 2

    def test_numeric_columns(self) -> None:
        fields = {"n": np.asarray([1, 2, 3]), "x": np.asarray([0.5, np.nan, 2.0])}
        assert evaluate(Condition(field="n", op=">=", value=2), fields, 3).tolist() == [
            False,
            True,
            True,
        ]
        assert evaluate(Condition(field="n", op="!=", value=2), fields, 3).tolist() == [
            True,
            False,
            True,
        ]
        assert evaluate(Condition(field="x", op="<", value=1), fields, 3).tolist() == [
            True,
            False,
            False,
        ]
        assert evaluate(Condition(field="n", op="exists"), fields, 3).tolist() == [True] * 3

    def test_all_and_any(self) -> None:
        # amount >= 10:  F T T F F F
        # tier == "vip": T F F T F F
        # audit true:    T F F T F F
        amount = Condition(field="amount", op=">=", value=10)
        vip = Condition(field="tier", op="==", value="vip")
        audit = Condition(field="audit", op="true")
        assert self.check(AllOf(all=[amount, vip])) == [False] * 6
        assert self.check(AllOf(all=[vip, audit])) == [True, False, False, True, False, False]
        assert self.check(AnyOf(any=[amount, vip])) == [True, True, True, True, False, False]
        assert self.check(AnyOf(any=[amount])) == self.check(amount)

    def test_a_missing_field_inside_all_and_any(self) -> None:
        gone = Condition(field="nowhere", op="==", value=1)
        vip = Condition(field="tier", op="==", value="vip")
        assert self.check(AllOf(all=[vip, gone])) == [False] * 6
        assert self.check(AnyOf(any=[vip, gone])) == self.check(vip)
        absent = Condition(field="nowhere", op="missing")
        assert self.check(AllOf(all=[vip, absent])) == self.check(vip)

    def test_all_and_any_from_a_policy_file(self) -> None:
        spec = RuleSpec.model_validate(
            {"name": "r", "when": {"all": ["amount >= 10", "tier == basic"]}}
        )
        # amount >= 10 and tier == basic: row 1 only
        assert self.check(spec.when) == [False, True, False, False, False, False]


class TestFieldRule:
    def spec(self, **kwargs: Any) -> RuleSpec:
        return RuleSpec.model_validate({"name": "large amount", "when": "amount > 100", **kwargs})

    def test_routes_and_prioritises_matching_rows(self) -> None:
        b = batch([[1.0, 0.0, 0.0]] * 3, fields={"amount": column(50, 500, None)})
        rule = FieldRule(self.spec(route="expert", priority="urgent"))
        votes = vote(rule, b, bit=5)
        assert votes.tier.tolist() == [0, 2, 0]
        assert votes.priority.tolist() == [NORMAL, URGENT, NORMAL]
        assert votes.reason_bits.tolist() == [0, 32, 0]
        assert rule.name == "rule:large amount"
        assert rule.describe(b, 1) == "rule 'large amount': amount > 100"

    def test_applies_without_a_model_too(self) -> None:
        b = batch(None, n=2, fields={"amount": column(500, 5)})
        assert vote(FieldRule(self.spec()), b).tier.tolist() == [1, 0]

    def test_descriptions_of_compound_conditions(self) -> None:
        rule = FieldRule(
            RuleSpec.model_validate(
                {"name": "vip", "when": {"all": ['tier == "vip"', "audit", "amount >= 5"]}}
            )
        )
        text = rule.describe(batch(None, n=1), 0)
        assert text == "rule 'vip': tier == 'vip' and audit is true and amount >= 5"
        rule = FieldRule(
            RuleSpec.model_validate(
                {"name": "any", "when": {"any": [{"field": "x", "op": "missing"}, "y in [1]"]}}
            )
        )
        assert rule.describe(batch(None, n=1), 0) == "rule 'any': x missing or y in [1]"


class TestQASampleRule:
    def test_samples_only_rows_that_would_be_auto(self) -> None:
        b = batch([[1.0, 0.0, 0.0]] * 4, keys=np.asarray([0.01, 0.01, 0.5, 0.04]))
        votes = Votes.empty(4)
        votes.mark(np.asarray([False, True, False, False]), 0, 2)  # row 1 already to an expert
        QASampleRule(0.05).apply(b, votes, 1)
        assert votes.tier.tolist() == [1, 2, 0, 1]
        assert matched(votes, 1) == [True, False, False, True]

    def test_deterministic_given_the_keys(self) -> None:
        keys = np.random.default_rng(1).random(1000)
        b = batch([[1.0, 0.0, 0.0]] * 1000, keys=keys)
        first = vote(QASampleRule(0.1), b).tier
        second = vote(QASampleRule(0.1), batch([[1.0, 0.0, 0.0]] * 1000, keys=keys.copy())).tier
        assert first.tolist() == second.tolist()
        assert first.tolist() == (keys < 0.1).astype(int).tolist()

    def test_the_share_matches_the_rate_over_many_rows(self) -> None:
        n, rate = 100_000, 0.02
        keys = np.random.default_rng(2024).random(n)
        b = RoutingBatch(LABELS, np.tile([1.0, 0.0, 0.0], (n, 1)), n, keys=keys)
        share = float((vote(QASampleRule(rate), b).tier == 1).mean())
        # binomial sd = sqrt(0.02 * 0.98 / 1e5) = 0.00044; allow 5 sd
        assert abs(share - rate) < 0.0023

    def test_no_model_or_a_zero_rate_samples_nothing(self) -> None:
        keys = np.asarray([0.0, 0.0])
        assert vote(QASampleRule(0.5), batch(None, n=2, keys=keys)).tier.tolist() == [0, 0]
        b = batch([[1.0, 0.0, 0.0]] * 2, keys=keys)
        assert vote(QASampleRule(0.0), b).tier.tolist() == [0, 0]

    def test_describe(self) -> None:
        b = batch([[1.0, 0.0, 0.0]], keys=np.asarray([0.0]))
        text = QASampleRule(0.02).describe(b, 0)
        assert text == "random QA sample (2.0% of automatic decisions are checked)"

    def test_sampled_rows_have_low_priority(self) -> None:
        b = batch([[1.0, 0.0, 0.0]] * 2, keys=np.asarray([0.01, 0.9]))
        votes = vote(QASampleRule(0.05), b)
        assert votes.tier.tolist() == [1, 0]
        assert votes.priority.tolist() == [LOW, NORMAL]


class TestCombining:
    def test_most_urgent_priority_and_highest_tier_win(self) -> None:
        votes = Votes.empty(3)
        votes.mark(np.asarray([True, True, False]), 0, 1, HIGH)
        votes.mark(np.asarray([True, False, False]), 1, 2, LOW)
        votes.mark(np.asarray([False, True, True]), 2, 1, URGENT)
        votes.mark(np.asarray([False, False, True]), 3, 0)
        assert votes.tier.tolist() == [2, 1, 1]
        assert votes.priority.tolist() == [HIGH, URGENT, URGENT]
        assert votes.reason_bits.tolist() == [0b0011, 0b0101, 0b1100]

    def test_a_rule_never_lowers_the_tier(self) -> None:
        votes = Votes.empty(1)
        votes.mark(np.asarray([True]), 0, 2)
        votes.mark(np.asarray([True]), 1, 1)
        assert votes.tier.tolist() == [2]

    def test_outcome_lists_every_matching_rule_in_order(self) -> None:
        config = RoutingConfig(
            auto_threshold=0.9,
            expert_threshold=0.5,
            class_thresholds={"spam": 0.97},
            always_review=["fraud"],
            rules=[
                RuleSpec.model_validate(
                    {"name": "big", "when": "amount > 100", "priority": "high"}
                ),
                RuleSpec.model_validate(
                    {"name": "audit", "when": "audit", "route": "expert", "priority": "urgent"}
                ),
            ],
        )
        b = batch(
            [
                [0.2, 0.4, 0.4],  # confidence 0.4 predicts spam (first max): conf, expert, class
                [0.0, 0.0, 1.0],  # fraud, sure: always review + ood
                [0.99, 0.01, 0.0],  # ham, sure: auto
                [0.95, 0.05, 0.0],  # ham: business rules only
            ],
            fields={"amount": column(5, 500, None, 1000), "audit": column(None, None, 0, True)},
            ood_score=np.asarray([0.0, 5.0, 0.0, 0.0]),
            ood_threshold=1.0,
        )
        outcome = RoutingPolicy.from_config(config, LABELS).route(b)
        assert outcome.routes == (Route.EXPERT, Route.HUMAN, Route.AUTO, Route.EXPERT)
        assert outcome.priority.tolist() == [NORMAL, HIGH, NORMAL, URGENT]
        assert outcome.rules(0) == ("confidence", "expert_threshold", "class_threshold")
        assert outcome.rules(1) == ("always_review", "ood", "rule:big")
        assert outcome.rules(2) == ()
        assert outcome.rules(3) == ("rule:big", "rule:audit")
        assert outcome.reasons(0) == (
            "confidence 0.400 below threshold 0.900",
            "confidence 0.400 below expert threshold 0.500",
            "confidence 0.400 below the 'spam' threshold 0.970",
        )
        assert outcome.reasons(1) == (
            "predicted 'fraud', a class people always check",
            "anomalous input: out-of-distribution score 5.000 above 1.000",
            "rule 'big': amount > 100",
        )
        assert outcome.reasons(2) == ("confidence 0.990 at or above threshold 0.900",)
        assert outcome.reasons(3) == ("rule 'big': amount > 100", "rule 'audit': audit is true")

    def test_the_auto_reason_of_a_certified_policy_names_the_certified_threshold(self) -> None:
        certificate = Certificate(
            alpha=0.02,
            delta=0.1,
            threshold=0.8,
            bound=0.019,
            n=1000,
            selected=600,
            errors=5,
            automation=0.6,
            needed=114,
        )
        policy = RoutingPolicy.from_config(
            RoutingConfig(target_error=0.02, target_confidence=0.9), certificate=certificate
        )
        b = batch([[0.1, 0.1, 0.8], [0.5, 0.3, 0.2]], raw_confidence=np.asarray([0.85, 0.5]))
        outcome = policy.route(b)
        assert outcome.routes == (Route.AUTO, Route.HUMAN)
        assert outcome.reasons(0) == (
            "model confidence 0.8500 at or above certified threshold 0.8000 "
            "(error <= 2.0% at 90% confidence)",
        )
        assert outcome.rules(1) == ("certified_threshold",)
        assert outcome.reasons(1) == ("model confidence 0.5000 below certified threshold 0.8000",)

    def test_a_target_without_a_certificate_reviews_everything(self) -> None:
        policy = RoutingPolicy.from_config(RoutingConfig(target_error=0.05))
        outcome = policy.route(batch([[1.0, 0.0, 0.0]]))
        assert outcome.routes == (Route.HUMAN,)
        assert outcome.reasons(0) == (
            "no certified threshold yet: verify items and recalibrate; every item is reviewed",
        )
        assert policy.certified is None


class TestFromConfig:
    def test_the_full_order_of_rules(self) -> None:
        config = RoutingConfig(
            target_error=0.02,
            expert_threshold=0.5,
            class_thresholds={"spam": 0.97},
            always_review=["fraud"],
            qa_sample=0.02,
            rules=[
                RuleSpec.model_validate({"name": "b", "when": "x"}),
                RuleSpec.model_validate({"name": "a", "when": "y"}),
            ],
        )
        policy = RoutingPolicy.from_config(config, LABELS)
        assert [rule.name for rule in policy.rules] == [
            "no_model",
            "certified_threshold",
            "expert_threshold",
            "class_threshold",
            "always_review",
            "ood",
            "rule:b",
            "rule:a",
            "qa_sample",
        ]

    def test_a_fixed_threshold_and_nothing_optional(self) -> None:
        policy = RoutingPolicy.from_config(RoutingConfig(auto_threshold=0.7, ood=None))
        assert [rule.name for rule in policy.rules] == ["no_model", "confidence"]
        rule = policy.rules[1]
        assert isinstance(rule, ConfidenceThresholdRule)
        assert rule.auto_threshold == 0.7

    def test_a_certificate_is_ignored_without_a_target(self) -> None:
        certificate = Certificate(0.02, 0.1, 0.8, 0.019, 1000, 600, 5, 0.6, 114)
        policy = RoutingPolicy.from_config(RoutingConfig(), certificate=certificate)
        assert policy.certified is None
        assert [rule.name for rule in policy.rules] == ["no_model", "confidence", "ood"]

    def test_a_certificate_sets_the_threshold(self) -> None:
        certificate = Certificate(0.02, 0.1, 0.8, 0.019, 1000, 600, 5, 0.6, 114)
        policy = RoutingPolicy.from_config(
            RoutingConfig(target_error=0.02), certificate=certificate
        )
        rule = policy.rules[1]
        assert isinstance(rule, CertifiedThresholdRule)
        assert rule.threshold == 0.8
        assert rule.explanation == certificate.explain()
        assert policy.certified is certificate

    def test_too_many_rules_are_refused(self) -> None:
        config = RoutingConfig(
            rules=[RuleSpec.model_validate({"name": f"r{i}", "when": "x"}) for i in range(30)]
        )
        with pytest.raises(ValueError, match="at most 32 rules"):
            RoutingPolicy.from_config(config)


def test_a_rule_can_ask_for_low_priority_and_the_most_urgent_rule_wins() -> None:
    votes = Votes.empty(3)
    votes.mark(np.array([True, True, False]), 0, 1, int(Priority.LOW))
    votes.mark(np.array([False, True, False]), 1, 1, int(Priority.HIGH))
    votes.mark(np.array([True, False, False]), 2, 1, int(Priority.NORMAL))
    votes.mark(np.array([False, False, True]), 3, 1)
    assert votes.priority.tolist() == [
        int(Priority.NORMAL),
        int(Priority.HIGH),
        int(Priority.NORMAL),
    ]
    low_only = Votes.empty(1)
    low_only.mark(np.array([True]), 0, 1, int(Priority.LOW))
    assert low_only.priority.tolist() == [int(Priority.LOW)]


def test_calibration_cannot_change_the_predicted_class() -> None:
    """Calibrated probabilities may reorder classes; the decision stays the model's own and the
    confidence is the calibrated probability of that class."""
    calibrated = np.array([[0.45, 0.55], [0.2, 0.8]])
    batch = RoutingBatch(
        ("ham", "spam"), calibrated, 2, predicted_index=np.array([0, 1], dtype=np.int64)
    )
    assert batch.predicted.tolist() == [0, 1]
    assert batch.confidence.tolist() == [0.45, 0.8]
