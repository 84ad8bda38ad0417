"""Routing through the services, on real databases: business rules, certified thresholds,
out-of-distribution inputs, QA sampling, policy changes and recalibration.

Every test asserts what was stored (items, predictions, decisions, tasks, calibrations) and
audited, not only what the call returned, and ends on the no-item-lost invariant. Where the
model is not the point, items carry the caller's own ``probabilities`` so only the policy
decides; where it is, the model is trained on real SMS labels from one module-level list.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pytest

from loopwise import ItemStatus, Loopwise, Priority, Route, RoutingConfig, TrainingConfig, Verdict
from loopwise.errors import InvalidInput, NoProductionModel
from loopwise.routing import sgr_min_size
from loopwise.scoring.calibration import TemperatureScaling
from loopwise.services.resolution import unit_hash
from tests.factories import (
    HAM,
    add_reviewers,
    make_text_project,
    scored_item,
    seeded_model,
    sms_rows,
)
from tests.integration.helpers import (
    assert_no_item_lost,
    by_external_id,
    decision_of,
    events,
    one,
    prediction_of,
    refused,
    rows,
    task_of,
)

CERTIFY_SEED = sms_rows(1_000)
"""Imported ground truth for the certified threshold: about a fifth (189) lands in the held-out
split, well above the ``sgr_min_size`` of a 5% target at 90% confidence (checked in the test)."""
SMALL_SEED = CERTIFY_SEED[:300]
"""Enough for a useful model and more than 30 held-out labels (a temperature is fitted)."""
LIVE = sms_rows(400, skip=len(CERTIFY_SEED), prefix="live")
"""Traffic the models never saw, with its true labels to measure automatic decisions."""
TRUTH = {r["external_id"]: r["label"] for r in LIVE}
UNSEEN = "qzxv wplk mrrtg"
"""A text made only of tokens no SMS has: its TF-IDF row is empty, as unlike training as can be."""
CONFIDENT = (0.97, 0.03)
"""Caller probabilities confident enough for every threshold used here: only rules decide."""


class HeldPolicy(Mapping[str, Any]):
    """A policy mapping that says when ``set_policy`` starts copying it and, unless ``wait`` is
    false, holds it there until ``go`` is set (to interleave two transactions)."""

    def __init__(
        self,
        data: dict[str, Any],
        reading: threading.Event,
        go: threading.Event,
        *,
        wait: bool = True,
    ) -> None:
        self.data, self.reading, self.go, self.wait = data, reading, go, wait

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[str]:
        self.reading.set()
        if self.wait:
            assert self.go.wait(30)
        return iter(self.data)


def live_items(rows_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Labelled rows as items to submit (the label stays behind)."""
    return [{"external_id": r["external_id"], "payload": r["payload"]} for r in rows_]


def holdout_count(lw: Loopwise) -> int:
    return sum(1 for r in rows(lw, "label") if r["split"] == "holdout")


def accepted_ids(lw: Loopwise) -> list[str]:
    return [r["external_id"] for r in rows(lw, "item")]


def train_and_promote(lw: Loopwise, project: str = "sms") -> dict[str, Any]:
    """Train a candidate, promote it through the gate (it must pass), return its row."""
    candidate = lw.train(project)
    result = lw.promote(project, candidate.version)
    assert result.promoted, result.report.gate.reasons
    return one(lw, "model_version", version=candidate.version)


RULES_POLICY = """\
auto_threshold: 0.8
ood: null
rules:
  - name: large amount
    when: amount > 10000
    route: human
    priority: high
  - name: audit
    when: requires_audit
    route: expert
  - name: big vip
    when: {all: [customer.tier == "vip", amount >= 500]}
    priority: urgent
  - name: abroad
    when: country != "GB"
"""
LARGE = "rule 'large amount': amount > 10000"
AUDIT = "rule 'audit': requires_audit is true"
VIP = "rule 'big vip': customer.tier == 'vip' and amount >= 500"
ABROAD = "rule 'abroad': country != 'GB'"


class RuleCase(NamedTuple):
    """One confidently scored item, its metadata, and where the rules must send it."""

    key: str
    metadata: dict[str, Any]
    route: Route = Route.AUTO
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ("confidence 0.970 at or above threshold 0.800",)
    stage: str | None = None
    priority: Priority | None = None


RULE_CASES = (
    RuleCase("plain", {}),
    RuleCase(
        "large",
        {"amount": 20_000},
        Route.HUMAN,
        ("rule:large amount",),
        (LARGE,),
        "review",
        Priority.HIGH,
    ),
    RuleCase("at-limit", {"amount": 10_000}),
    RuleCase("amount-as-text", {"amount": "20000"}),
    RuleCase(
        "audit",
        {"requires_audit": True},
        Route.EXPERT,
        ("rule:audit",),
        (AUDIT,),
        "expert",
        Priority.NORMAL,
    ),
    RuleCase("no-audit", {"requires_audit": False}),
    RuleCase(
        "vip",
        {"customer": {"tier": "vip"}, "amount": 600},
        Route.HUMAN,
        ("rule:big vip",),
        (VIP,),
        "review",
        Priority.URGENT,
    ),
    RuleCase("vip-small", {"customer": {"tier": "vip"}, "amount": 100}),
    RuleCase("vip-no-amount", {"customer": {"tier": "vip"}}),
    RuleCase("no-tier", {"customer": {}, "amount": 900}),
    RuleCase("home", {"country": "GB"}),
    RuleCase(
        "abroad",
        {"country": "FR"},
        Route.HUMAN,
        ("rule:abroad",),
        (ABROAD,),
        "review",
        Priority.NORMAL,
    ),
    RuleCase(
        "all-three",
        {"amount": 50_000, "requires_audit": 1, "customer": {"tier": "vip"}},
        Route.EXPERT,
        ("rule:large amount", "rule:audit", "rule:big vip"),
        (LARGE, AUDIT, VIP),
        "expert",
        Priority.URGENT,
    ),
)
"""Missing, mistyped and boundary values do not match; several matches keep every reason, the
highest tier and the most urgent priority."""
MIXED_BATCH = {"amount-as-text", "all-three"}
"""Submitted apart: there ``amount`` holds text and numbers, elsewhere only numbers or nothing
(rules read a column of numbers and a column of mixed values alike)."""


class TestBusinessRules:
    def test_metadata_rules_set_route_stage_priority_and_reasons(self, lw: Loopwise) -> None:
        make_text_project(lw, routing=RULES_POLICY)
        batches: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for case in RULE_CASES:
            batches[case.key in MIXED_BATCH].append(
                {**scored_item(case.key, f"order {case.key}", CONFIDENT), "metadata": case.metadata}
            )

        routed = {r.external_id: r for b in batches for r in lw.submit("sms", b, actor="gateway")}

        for case in RULE_CASES:
            item = one(lw, "item", external_id=case.key)
            decision = decision_of(lw, case.key)
            task = task_of(lw, case.key)
            assert item["metadata"] == case.metadata
            assert decision["route"] == case.route.value, case.key
            assert decision["rules"] == list(case.rules), case.key
            assert decision["reasons"] == list(case.reasons), case.key
            assert decision["policy_version"] == 1
            assert routed[case.key].route is case.route
            assert routed[case.key].reasons == case.reasons
            if case.route is Route.AUTO:
                assert item["status"] == ItemStatus.DECIDED.value
                assert (decision["final_label"], decision["decided_by"]) == ("ham", "caller-model")
                assert task is None, case.key
            else:
                assert item["status"] == ItemStatus.QUEUED.value
                assert (decision["final_label"], decision["decided_by"]) == (None, None)
                assert task is not None, case.key
                assert (task["stage"], task["priority"], task["status"]) == (
                    case.stage,
                    case.priority,
                    "open",
                ), case.key
        audited = {e["after"]["external_id"]: e for e in events(lw, "item.routed")}
        assert audited["all-three"]["actor"] == "gateway"
        assert audited["all-three"]["after"]["route"] == "expert"
        assert audited["all-three"]["after"]["reasons"] == [LARGE, AUDIT, VIP]
        assert audited["all-three"]["after"]["task_id"] == routed["all-three"].task_id
        assert lw.routing_report("sms").rules == {
            "rule:large amount": 2,
            "rule:audit": 2,
            "rule:big vip": 2,
            "rule:abroad": 1,
        }
        assert_no_item_lost(lw, "sms", [case.key for case in RULE_CASES])

    def test_rules_apply_without_a_model_too(self, lw: Loopwise) -> None:
        make_text_project(lw, routing=RULES_POLICY)

        lw.submit(
            "sms",
            [
                {"external_id": "big", "payload": "pay", "metadata": {"amount": 12_000}},
                {"external_id": "small", "payload": "pay", "metadata": {"amount": 12}},
            ],
        )

        assert decision_of(lw, "big")["rules"] == ["no_model", "rule:large amount"]
        assert decision_of(lw, "big")["reasons"] == ["no production model yet", LARGE]
        assert decision_of(lw, "small")["rules"] == ["no_model"]
        big, small = task_of(lw, "big"), task_of(lw, "small")
        assert big is not None
        assert small is not None
        assert (big["priority"], small["priority"]) == (Priority.HIGH, Priority.NORMAL)
        assert_no_item_lost(lw, "sms", ["big", "small"])

    def test_a_low_priority_rule_queues_at_low_priority(self, lw: Loopwise) -> None:
        """``priority: low`` is a valid rule setting, so it must not be silently raised to normal
        (it was, at d69128b: every row started at NORMAL and rules could only lower the number)."""
        make_text_project(
            lw,
            routing={
                "auto_threshold": 0.8,
                "ood": None,
                "rules": [{"name": "backlog", "when": "from_backlog", "priority": "low"}],
            },
        )

        [routed] = lw.submit(
            "sms", [{**scored_item("old", "old order", CONFIDENT), "metadata": {"from_backlog": 1}}]
        )

        assert decision_of(lw, "old")["rules"] == ["rule:backlog"]
        task = task_of(lw, "old")
        assert task is not None
        assert routed.route is Route.HUMAN
        assert task["priority"] == Priority.LOW

    def test_large_integer_metadata_matches_exactly_whatever_the_batch(self, lw: Loopwise) -> None:
        """Account numbers beyond 2**53 must not be rounded onto their neighbours (at d69128b an
        all-number column became float64, so a rule for one account matched another, and only
        when no batch-mate had text in that field)."""
        make_text_project(
            lw,
            routing={
                "auto_threshold": 0.8,
                "ood": None,
                "rules": [{"name": "watched", "when": f"account == {2**53 + 1}"}],
            },
        )

        def item(key: str, account: object) -> dict[str, Any]:
            return {**scored_item(key, "transfer", CONFIDENT), "metadata": {"account": account}}

        lw.submit("sms", [item("beside-text", 2**53), item("text", "n/a")])
        lw.submit("sms", [item("alone", 2**53), item("watched", 2**53 + 1)])

        assert decision_of(lw, "beside-text")["rules"] == []
        assert decision_of(lw, "watched")["rules"] == ["rule:watched"]
        assert decision_of(lw, "alone")["rules"] == [], "another account, whatever the batch"

    def test_class_rules_and_thresholds(self, lw: Loopwise) -> None:
        lw.create_project(
            "mail",
            ["ham", "spam", "fraud"],
            routing={
                "auto_threshold": 0.8,
                "expert_threshold": 0.5,
                "class_thresholds": {"spam": 0.97},
                "always_review": ["fraud"],
                "ood": None,
            },
        )
        cases = {
            "ham": ((0.9, 0.05, 0.05), Route.AUTO, [], "confidence 0.900 at or above threshold"),
            "spam-unsure": (
                (0.02, 0.95, 0.03),
                Route.HUMAN,
                ["class_threshold"],
                "confidence 0.950 below the 'spam' threshold 0.970",
            ),
            "spam-sure": (
                (0.01, 0.98, 0.01),
                Route.AUTO,
                [],
                "confidence 0.980 at or above threshold",
            ),
            "fraud": (
                (0.005, 0.005, 0.99),
                Route.HUMAN,
                ["always_review"],
                "predicted 'fraud', a class people always check",
            ),
            "ham-unsure": (
                (0.7, 0.2, 0.1),
                Route.HUMAN,
                ["confidence"],
                "confidence 0.700 below threshold 0.800",
            ),
            "ham-lost": (
                (0.4, 0.35, 0.25),
                Route.EXPERT,
                ["confidence", "expert_threshold"],
                "confidence 0.400 below threshold 0.800",
            ),
        }

        lw.submit("mail", [scored_item(key, key, p) for key, (p, *_) in cases.items()])

        for key, (probs, route, rules, first_reason) in cases.items():
            decision = decision_of(lw, key)
            prediction = prediction_of(lw, key)
            assert (decision["route"], decision["rules"]) == (route.value, rules), key
            assert decision["reasons"][0].startswith(first_reason), decision["reasons"]
            assert prediction["probabilities"] == list(probs)
            assert prediction["model_version_id"] is None
            assert prediction["calibration_id"] is None
            assert prediction["confidence"] == max(probs), "caller probabilities are not calibrated"
            task = task_of(lw, key)
            if route is Route.AUTO:
                assert task is None
                assert decision["final_label"] == prediction["predicted_label"]
            else:
                assert task is not None
                assert task["stage"] == ("expert" if route is Route.EXPERT else "review")
                assert task["priority"] == Priority.NORMAL
        assert decision_of(lw, "ham-lost")["reasons"][1] == (
            "confidence 0.400 below expert threshold 0.500"
        )
        assert_no_item_lost(lw, "mail", cases)


class TestCertifiedThreshold:
    ALPHA = 0.05
    DELTA = 0.1

    def policy(self) -> RoutingConfig:
        return RoutingConfig(target_error=self.ALPHA, target_confidence=1 - self.DELTA, ood=None)

    def test_the_live_loop_auto_decides_only_above_the_certified_threshold(
        self, lw: Loopwise
    ) -> None:
        make_text_project(lw, routing=self.policy())
        lw.import_labels("sms", CERTIFY_SEED)
        verified = holdout_count(lw)
        needed = sgr_min_size(self.ALPHA, self.DELTA)
        assert verified >= needed, "the seed must be large enough to certify anything"

        model = train_and_promote(lw)

        calibration = one(lw, "calibration")
        certificate = calibration["certificate"]
        assert certificate is not None
        threshold = certificate["threshold"]
        assert isinstance(threshold, float)
        assert 0.5 <= threshold < 1.0
        assert (calibration["model_version_id"], calibration["policy_version"]) == (model["id"], 1)
        assert calibration["method"] == "temperature"
        assert calibration["verified"] == verified
        assert (certificate["alpha"], certificate["n"], certificate["needed"]) == (
            self.ALPHA,
            verified,
            needed,
        )
        assert certificate["errors"] <= certificate["selected"] <= verified
        assert certificate["bound"] <= self.ALPHA
        [event] = events(lw, "routing.recalibrated")
        assert (event["entity_type"], event["entity_id"]) == ("model_version", str(model["id"]))
        assert event["after"]["certificate"] == certificate
        assert event["after"]["verified"] == verified

        lw.submit("sms", [*live_items(LIVE), scored_item("theirs", "hi", (0.999, 0.001))])

        auto: list[str] = []
        reviewed: list[str] = []
        decisions = by_external_id(lw, "decision")
        predictions = by_external_id(lw, "prediction")
        tasks = by_external_id(lw, "review_task")
        for key in TRUTH:
            decision, prediction = decisions[key], predictions[key]
            own = max(prediction["probabilities"])
            assert prediction["model_version_id"] == model["id"]
            assert prediction["calibration_id"] == calibration["id"]
            if own >= threshold:
                auto.append(key)
                assert decision["route"] == "auto"
                assert decision["rules"] == []
                assert decision["decided_by"] == "model:v1"
                assert key not in tasks
                assert decision["reasons"] == [
                    f"model confidence {own:.4f} at or above certified threshold "
                    f"{threshold:.4f} (error <= 5.0% at 90% confidence)"
                ]
            else:
                reviewed.append(key)
                assert decision["route"] == "human"
                assert decision["rules"] == ["certified_threshold"]
                assert decision["reasons"] == [
                    f"model confidence {own:.4f} below certified threshold {threshold:.4f}"
                ]
                assert tasks[key]["status"] == "open"
        assert auto
        assert reviewed, "some live traffic falls below the threshold"
        wrong = sum(decisions[k]["final_label"] != TRUTH[k] for k in auto)
        assert wrong / len(auto) <= self.ALPHA
        theirs = decision_of(lw, "theirs")
        assert (theirs["route"], theirs["rules"]) == ("human", ["certified_threshold"])
        assert theirs["reasons"] == [
            "scored by the caller's model: the certified threshold holds for loopwise's own "
            "model only, so people check it"
        ]
        assert prediction_of(lw, "theirs")["calibration_id"] is None
        assert len(rows(lw, "calibration")) == 1, "routing reused the calibration in force"
        report = lw.routing_report("sms")
        assert report.certificate is not None
        assert report.certificate.threshold == threshold
        assert report.tiers == {"auto": len(auto), "human": len(reviewed) + 1}
        assert report.rules == {"certified_threshold": len(reviewed) + 1}
        seed = [r["external_id"] for r in CERTIFY_SEED]
        assert_no_item_lost(lw, "sms", [*seed, *TRUTH, "theirs"])

    def test_too_few_verified_items_reviews_everything_and_says_how_many(
        self, lw: Loopwise
    ) -> None:
        make_text_project(lw, routing=self.policy())
        seeded_model(lw)
        verified = holdout_count(lw)
        needed = sgr_min_size(self.ALPHA, self.DELTA)
        assert verified < needed
        certificate = one(lw, "calibration")["certificate"]
        assert certificate is not None
        assert (certificate["threshold"], certificate["n"], certificate["needed"]) == (
            None,
            verified,
            needed,
        )
        why = (
            f"cannot certify error <= 5.0% at 90%: {verified} verified items, at least "
            f"{needed} needed; every item is reviewed"
        )

        routed = lw.submit("sms", live_items(LIVE[:20]))

        assert {r.route for r in routed} == {Route.HUMAN}
        assert {r.reasons for r in routed} == {(why,)}
        for r in routed:
            assert decision_of(lw, r.external_id)["rules"] == ["certified_threshold"]
            assert one(lw, "item", id=r.item_id)["status"] == "queued"
        assert lw.routing_report("sms").tiers == {"human": 20}
        assert_no_item_lost(lw, "sms", accepted_ids(lw))


class TestOutOfDistribution:
    def test_unseen_tokens_are_reviewed_as_anomalous_unless_the_check_is_off(
        self, lw: Loopwise
    ) -> None:
        make_text_project(lw, routing={"auto_threshold": 0.5})
        lw.import_labels("sms", SMALL_SEED)
        train_and_promote(lw)
        found = lw.production_model("sms")
        assert found is not None
        detector = found[1].ood
        assert detector is not None
        cutoff = float(detector.threshold_)
        familiar = live_items(LIVE[:3])

        lw.submit("sms", [{"external_id": "odd", "payload": UNSEEN}, *familiar])

        decision, prediction = decision_of(lw, "odd"), prediction_of(lw, "odd")
        score = prediction["ood_score"]
        assert isinstance(score, float)
        assert score > cutoff
        assert decision["route"] == "human"
        assert "ood" in decision["rules"]
        assert decision["reasons"][decision["rules"].index("ood")] == (
            f"anomalous input: out-of-distribution score {score:.3f} above {cutoff:.3f}"
        )
        task = task_of(lw, "odd")
        assert task is not None
        assert (task["stage"], task["priority"]) == ("review", Priority.HIGH)
        for item in familiar:
            known = prediction_of(lw, item["external_id"])
            assert known["ood_score"] is not None
            assert known["ood_score"] <= cutoff
            assert "ood" not in decision_of(lw, item["external_id"])["rules"]

        lw.set_policy("sms", "auto_threshold: 0.5\nood: {route: expert, priority: urgent}\n")
        lw.submit("sms", [{"external_id": "odd-expert", "payload": UNSEEN}])

        expert = task_of(lw, "odd-expert")
        assert expert is not None
        assert (expert["stage"], expert["priority"]) == ("expert", Priority.URGENT)
        assert decision_of(lw, "odd-expert")["route"] == "expert"
        assert prediction_of(lw, "odd-expert")["ood_score"] == score

        lw.set_policy("sms", "auto_threshold: 0.5\nood: null\n")
        lw.submit("sms", [{"external_id": "odd-again", "payload": UNSEEN}])

        again = decision_of(lw, "odd-again")
        assert prediction_of(lw, "odd-again")["ood_score"] is None
        assert "ood" not in again["rules"]
        assert not any("anomalous" in reason for reason in again["reasons"])
        assert again["policy_version"] == 3
        assert lw.routing_report("sms").rules.get("ood") == 2
        assert_no_item_lost(lw, "sms", accepted_ids(lw))


class TestQASampling:
    RATE = 0.5
    N = 40

    def test_projects_with_one_split_seed_check_the_same_items(self, lw: Loopwise) -> None:
        keys = [f"qa-{i}" for i in range(self.N)]
        checked = []
        for name in ("first", "second"):
            make_text_project(
                lw,
                name,
                routing={"auto_threshold": 0.8, "qa_sample": self.RATE, "ood": None},
                training=TrainingConfig(split_seed=3),
            )
            add_reviewers(lw, name, f"{name}-reviewer")
            routed = lw.submit(
                name, [scored_item(k, HAM[i % len(HAM)], CONFIDENT) for i, k in enumerate(keys)]
            )
            checked.append({r.external_id for r in routed if r.route is Route.HUMAN})
        assert checked[0] == checked[1] == {k for k in keys if unit_hash(3, k, "qa") < self.RATE}

    def test_a_stable_half_of_confident_items_is_checked_and_measured(self, lw: Loopwise) -> None:
        project = make_text_project(
            lw, routing={"auto_threshold": 0.8, "qa_sample": self.RATE, "ood": None}
        )
        add_reviewers(lw, "sms", "alice")
        keys = [f"qa-{i}" for i in range(self.N)]
        sampled = {k for k in keys if unit_hash(project.id, k, "qa") < self.RATE}
        assert self.N * 0.25 <= len(sampled) <= self.N * 0.75

        routed = lw.submit(
            "sms",
            [scored_item(k, HAM[i % len(HAM)], CONFIDENT) for i, k in enumerate(keys)]
            + [scored_item("unsure", "maybe", (0.6, 0.4))],
        )

        assert {r.external_id for r in routed if r.route is Route.HUMAN} == sampled | {"unsure"}
        for key in keys:
            decision = decision_of(lw, key)
            task = task_of(lw, key)
            if key in sampled:
                assert decision["route"] == "human"
                assert decision["rules"] == ["qa_sample"]
                assert decision["reasons"] == [
                    "random QA sample (50.0% of automatic decisions are checked)"
                ]
                assert task is not None
                assert (task["stage"], task["priority"]) == ("review", Priority.LOW)
            else:
                assert (decision["route"], decision["rules"]) == ("auto", [])
                assert decision["decided_by"] == "caller-model"
                assert task is None
        unsure = task_of(lw, "unsure")
        assert unsure is not None
        assert unsure["priority"] == Priority.NORMAL
        assert decision_of(lw, "unsure")["rules"] == ["confidence"]

        answers = {}
        for verdict, label in [
            (Verdict.APPROVE, None),
            (Verdict.APPROVE, None),
            (Verdict.APPROVE, None),
            (Verdict.CORRECT, "spam"),
            (Verdict.APPROVE, None),
        ]:
            entry = lw.claim_next("sms", "alice")
            assert entry is not None
            answers[entry.item.external_id] = verdict
            lw.submit_verdict("sms", entry.task.id, "alice", verdict, label=label)
        assert next(iter(answers)) == "unsure", "normal priority is served before QA samples"

        report = lw.routing_report("sms")
        assert (report.qa_checked, report.qa_agreed) == (4, 3)
        assert report.qa_accuracy == 0.75
        assert report.tiers == {"auto": self.N - len(sampled), "human": len(sampled) + 1}
        assert report.rules == {"qa_sample": len(sampled), "confidence": 1}
        assert report.to_json()["qa_accuracy"] == 0.75
        assert_no_item_lost(lw, "sms", [*keys, "unsure"])


class TestSetPolicy:
    def test_yaml_mapping_and_config_each_raise_the_version_by_one(self, lw: Loopwise) -> None:
        project = make_text_project(lw)
        original = lw.project("sms").routing

        from_yaml = lw.set_policy("sms", "auto_threshold: 0.8\nqa_sample: 0.1\n", actor="alice")
        from_dict = lw.set_policy("sms", {"auto_threshold": 0.85, "version": 40}, actor="bob")
        from_config = lw.set_policy("sms", RoutingConfig(auto_threshold=0.7), actor="carol")

        assert [c.version for c in (original, from_yaml, from_dict, from_config)] == [1, 2, 3, 4]
        assert (from_yaml.auto_threshold, from_yaml.qa_sample) == (0.8, 0.1)
        assert (from_dict.auto_threshold, from_dict.qa_sample) == (0.85, 0.0)
        assert from_config.auto_threshold == 0.7
        assert lw.project("sms").routing == from_config
        assert one(lw, "project")["routing"] == from_config.to_json()
        changes = events(lw, "project.policy_changed")
        assert [(e["actor"], e["entity_type"], e["entity_id"]) for e in changes] == [
            (actor, "project", str(project.id)) for actor in ("alice", "bob", "carol")
        ]
        assert [(e["before"], e["after"]) for e in changes] == [
            (original.to_json(), from_yaml.to_json()),
            (from_yaml.to_json(), from_dict.to_json()),
            (from_dict.to_json(), from_config.to_json()),
        ]
        assert rows(lw, "calibration") == []
        assert events(lw, "routing.recalibrated") == []

        lw.submit("sms", [scored_item("after", "hi", (0.72, 0.28))])
        assert decision_of(lw, "after")["policy_version"] == 4
        assert decision_of(lw, "after")["route"] == "auto"

    def test_concurrent_changes_queue_and_get_distinct_versions(self, lw: Loopwise) -> None:
        """Two admins change the policy at once: the later change must see the earlier one.

        Alice's change is held open after it read the project and before it wrote, by a policy
        mapping that blocks while ``set_policy`` copies it. Bob's change starts meanwhile: it
        must wait for Alice's (a row lock; SQLite's write lock) rather than read version 1 and
        overwrite hers. Alice is let go once Bob has read the project, or after half a second
        if he is (rightly) waiting for her."""
        make_text_project(lw)
        alice_read, bob_read, go = threading.Event(), threading.Event(), threading.Event()
        alice = HeldPolicy({"auto_threshold": 0.8}, alice_read, go)
        bob = HeldPolicy({"auto_threshold": 0.7}, bob_read, threading.Event(), wait=False)

        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(lw.set_policy, "sms", alice, actor="alice")
            assert alice_read.wait(30)
            second = pool.submit(lw.set_policy, "sms", bob, actor="bob")
            bob_read.wait(0.5)
            go.set()
            versions = (first.result(30).version, second.result(30).version)

        assert versions == (2, 3)
        assert (lw.project("sms").routing.version, lw.project("sms").routing.auto_threshold) == (
            3,
            0.7,
        )
        changes = events(lw, "project.policy_changed")
        assert [(e["actor"], e["before"]["version"], e["after"]["version"]) for e in changes] == [
            ("alice", 1, 2),
            ("bob", 2, 3),
        ]

    @pytest.mark.parametrize(
        ("text", "field", "line"),
        [
            (
                "auto_threshold: 0.9\nrules:\n  - name: x\n    when: amount >> 5\n",
                "rules[0].when",
                4,
            ),
            ("qa_sample: 0.1\nauto_threshold: 2\n", "auto_threshold", 2),
            ("qa_sample: 0.1\nrules: [\n", "policy", 3),
            ("auto_threshold: 0.9\nbogus: 1\n", "bogus", 2),
            ("ood: null\nalways_review: [ham, fraud]\n", "always_review[1]", 2),
            ("calibration: platt\n", "calibration", 1),
        ],
    )
    def test_bad_yaml_is_refused_with_its_line_and_writes_nothing(
        self, lw: Loopwise, text: str, field: str, line: int
    ) -> None:
        make_text_project(lw)

        with refused(lw, InvalidInput, field) as info:
            lw.set_policy("sms", text)

        assert info.value.message.startswith(f"line {line}: "), info.value.message
        assert lw.project("sms").routing.version == 1

    def test_bad_mappings_are_refused_naming_the_field(self, lw: Loopwise) -> None:
        make_text_project(lw)

        with refused(lw, InvalidInput, "qa_sample"):
            lw.set_policy("sms", {"qa_sample": 1.5})
        with refused(lw, InvalidInput, "class_thresholds.fraud"):
            lw.set_policy("sms", {"class_thresholds": {"fraud": 0.9}})
        with refused(lw, InvalidInput, "policy"):
            lw.set_policy("sms", "- just\n- a list\n")

    def test_with_a_production_model_the_calibration_is_refitted(self, lw: Loopwise) -> None:
        make_text_project(lw)
        model = seeded_model(lw)
        [first] = rows(lw, "calibration")
        assert first["policy_version"] == 1
        assert first["method"] == "none", "fewer than 30 verified items: probabilities as given"

        config = lw.set_policy("sms", "auto_threshold: 0.6\ncalibration: isotonic\n", actor="ops")

        first_again, second = rows(lw, "calibration")
        assert first_again == first
        assert (second["policy_version"], second["method"]) == (config.version, "none")
        assert second["model_version_id"] == first["model_version_id"]
        changed = events(lw, "project.policy_changed")[-1]
        recalibrated = events(lw, "routing.recalibrated")[-1]
        assert changed["id"] < recalibrated["id"]
        assert (recalibrated["actor"], recalibrated["entity_id"]) == ("ops", str(model.id))
        assert recalibrated["after"]["model_version"] == model.version

        lw.submit("sms", live_items(LIVE[:5]))

        assert len(rows(lw, "calibration")) == 2, "the calibration in force was reused"
        for item in LIVE[:5]:
            prediction = prediction_of(lw, item["external_id"])
            assert prediction["calibration_id"] == second["id"]
            assert prediction["confidence"] == max(prediction["probabilities"])
        assert_no_item_lost(lw, "sms", accepted_ids(lw))


class TestRecalibrate:
    def test_without_a_production_model_it_is_refused(self, lw: Loopwise) -> None:
        make_text_project(lw)
        lw.import_labels("sms", CERTIFY_SEED[:30])

        with refused(lw, NoProductionModel, None):
            lw.recalibrate("sms")

    def test_recalibration_calibrates_confidence_and_reports_routing(self, lw: Loopwise) -> None:
        make_text_project(lw, routing={"auto_threshold": 0.99, "ood": None})
        lw.import_labels("sms", SMALL_SEED)
        verified = holdout_count(lw)
        assert verified >= 30
        model = train_and_promote(lw)
        [first] = rows(lw, "calibration")
        assert (first["method"], first["verified"]) == ("temperature", verified)
        temperature = first["state"]["temperature"]
        assert temperature != pytest.approx(1.0, abs=0.01)
        batch = LIVE[:60]
        theirs = [scored_item(f"theirs-{i}", "maybe", (0.6, 0.4)) for i in range(2)]

        lw.submit("sms", [*live_items(batch), *theirs])

        differs = 0
        predictions = by_external_id(lw, "prediction")
        for item in batch:
            prediction = predictions[item["external_id"]]
            raw = np.asarray([prediction["probabilities"]])
            calibrated = TemperatureScaling(temperature).transform(raw)[0]
            assert prediction["calibration_id"] == first["id"]
            assert prediction["confidence"] == pytest.approx(calibrated.max(), abs=1e-12)
            differs += abs(prediction["confidence"] - raw.max()) > 1e-3
        assert differs > len(batch) // 2
        for item in theirs:
            prediction = prediction_of(lw, item["external_id"])
            assert (prediction["calibration_id"], prediction["confidence"]) == (None, 0.6)
        unsure = sum(p["confidence"] < 0.99 for p in rows(lw, "prediction"))

        report = lw.recalibrate("sms", actor="ops")

        first_again, second = rows(lw, "calibration")
        assert first_again == first
        assert (second["method"], second["verified"], second["policy_version"]) == (
            "temperature",
            verified,
            1,
        )
        assert second["state"]["temperature"] == pytest.approx(temperature, rel=1e-6)
        [_, event] = events(lw, "routing.recalibrated")
        assert (event["actor"], event["entity_id"]) == ("ops", str(model["id"]))
        calibration = report.calibration
        assert calibration is not None
        assert calibration["method"] == "temperature"
        assert calibration["verified"] == verified
        assert (event["after"]["ece_before"], event["after"]["ece_after"]) == (
            calibration["ece_before"],
            calibration["ece_after"],
        )
        assert 0.0 <= calibration["ece_after"] < calibration["ece_before"] <= 1.0
        assert report.model_version == 1
        assert report.certificate is None
        routed = [d for d in rows(lw, "decision") if d["origin"] == "routed"]
        assert len(routed) == len(batch) + len(theirs)
        assert report.tiers == dict(Counter(d["route"] for d in routed))
        assert report.rules == dict(Counter(name for d in routed for name in d["rules"]))
        assert report.tiers == {"auto": len(routed) - unsure, "human": unsure}
        assert report.rules == {"confidence": unsure}

        grown = sms_rows(100, skip=len(CERTIFY_SEED) + len(LIVE), prefix="more")
        lw.import_labels("sms", grown)
        more = holdout_count(lw)
        assert more - verified >= 10
        lw.submit("sms", [{"external_id": "next", "payload": HAM[0]}])

        third = rows(lw, "calibration")[-1]
        assert (third["id"], third["verified"]) == (second["id"] + 1, more)
        assert prediction_of(lw, "next")["calibration_id"] == third["id"]
        assert events(lw, "routing.recalibrated")[-1]["actor"] == "system"
        assert_no_item_lost(lw, "sms", accepted_ids(lw))
