"""A project's operating numbers, read back after a known sequence of use cases."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from loopwise import Loopwise, Verdict
from loopwise.errors import ProjectNotFound
from loopwise.services.stats import (
    CostInputs,
    LabelAgreement,
    LatencySummary,
    ProjectStats,
    QueueLevel,
    SlaLevel,
    SlaSummary,
)
from loopwise.services.stats_review import review_latency
from loopwise.testing import FrozenClock
from tests.factories import (
    COIN,
    LEANING,
    NO_HOLDOUT,
    FixedChance,
    add_reviewers,
    make_text_project,
    meta_item,
    review_project,
    scored_item,
    seed_rows,
    text_items,
)
from tests.integration.helpers import nothing_written, refused

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NOTHING_RESOLVED = LatencySummary(0, 0, None, None, None, None)
NO_SLA = SlaSummary(0, 0, None, 0, {})


def at(clock: FrozenClock, minute: float) -> None:
    """Move the frozen clock to ``minute`` minutes after :data:`NOW`."""
    clock.advance(seconds=(NOW + timedelta(minutes=minute) - clock.now()).total_seconds())


def test_automation_rate_and_human_ai_agreement(lw: Loopwise) -> None:
    make_text_project(lw, training=NO_HOLDOUT)
    make_text_project(lw, "other")
    add_reviewers(lw, "sms", "alice")
    empty = lw.stats("sms")
    assert empty == ProjectStats(
        items=0,
        decided=0,
        queued=0,
        resolved=0,
        routes={},
        open_tasks=0,
        labels=0,
        human_ai_agreement=None,
        agreement_by_label={},
        queue=(),
        latency=NOTHING_RESOLVED,
        sla=NO_SLA,
        cost=CostInputs(reviews=0, expert_reviews=0, gold_reviews=0, decisions=0),
        as_of=NOW,
    )
    assert empty.automation_rate == 0.0
    assert empty.cost.per_decision(1.0) is None
    with refused(lw, ProjectNotFound, "project"):
        lw.stats("nope")
    lw.import_labels("sms", seed_rows()[:2])
    lw.submit("other", [scored_item("elsewhere", "x", [0.99, 0.01])])
    lw.submit(
        "sms",
        [
            scored_item("auto-1", "a", [0.95, 0.05]),
            scored_item("auto-2", "b", [0.02, 0.98]),
            scored_item("auto-3", "c", [0.97, 0.03]),
            scored_item("human-1", "d", [0.5, 0.5]),
            scored_item("human-2", "e", [0.45, 0.55]),
            scored_item("human-3", "f", [0.4, 0.6]),
        ],
    )
    agree = lw.claim_next("sms", "alice")
    disagree = lw.claim_next("sms", "alice")
    assert agree is not None
    assert disagree is not None
    assert (agree.item.external_id, disagree.item.external_id) == ("human-1", "human-2")
    lw.submit_verdict("sms", agree.task.id, "alice", Verdict.APPROVE)
    lw.submit_verdict("sms", disagree.task.id, "alice", Verdict.REJECT)

    with nothing_written(lw):
        stats = lw.stats("sms")

    assert (stats.items, stats.decided, stats.queued, stats.resolved) == (8, 3, 1, 4)
    assert (stats.routes, stats.open_tasks, stats.labels) == ({"auto": 3, "human": 3}, 1, 4)
    assert stats.human_ai_agreement == 0.5
    assert stats.agreement_by_label == {"ham": LabelAgreement(n=2, agreed=1, share=0.5)}
    assert stats.automation_rate == 0.5

    lw.import_labels("sms", [{"external_id": "auto-2", "payload": "b", "label": "spam"}])

    after = lw.stats("sms")
    assert (after.decided, after.resolved, after.labels) == (2, 5, 5)
    assert after.routes == {"auto": 3, "human": 3}
    assert after.human_ai_agreement == pytest.approx(2 / 3)
    assert after.agreement_by_label == {
        "ham": LabelAgreement(n=2, agreed=1, share=0.5),
        "spam": LabelAgreement(n=1, agreed=1, share=1.0),
    }


def test_items_queued_before_any_model_count_as_routed_to_people(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.submit("sms", text_items(["a", "b", "c"]))
    lw.submit("sms", [scored_item("sure", "d", [0.99, 0.01])])

    stats = lw.stats("sms")

    assert stats.routes == {"human": 3, "auto": 1}
    assert stats.automation_rate == 0.25


class TestReviewNumbers:
    """One day and a half of a small team, minute by minute (ageing off, leases long):

    ======  =================================================================================
    minute  what happens
    ======  =================================================================================
    0       u1, u2 urgent (SLA 60 min); h1 high (240); n1, n2 normal (1440); l1 low (4320);
            a1 decided automatically; n3 queued
    5       n3's label is imported (its task is cancelled: not resolved by people)
    10, 20  alice claims u1 and approves it (on time); claims u2
    30, 40  bob claims h1 and escalates it: expert task, high, due at minute 280
    90      alice corrects u2 (late)
    100     zoe claims the expert task; at 120 corrects it (on time)
    1000    x1 goes straight to the expert stage (normal, due at 2440)
    1400    bob claims n1; at 1500 approves it (late)
    2000    alice claims n2 (past due); the numbers are read
    ======  =================================================================================
    """

    @pytest.fixture
    def stats(self, lw: Loopwise, clock: FrozenClock) -> ProjectStats:
        review_project(lw, review={"ageing_minutes": None, "lease_seconds": 86_400})
        review_project(lw, "other")
        add_reviewers(lw, "sms", "alice", "bob", max_open_tasks=10)
        add_reviewers(lw, "sms", "zoe", role="expert")
        lw.submit("other", [meta_item("elsewhere", tier="vip")])
        lw.submit(
            "sms",
            [
                meta_item("u1", COIN, tier="vip"),
                meta_item("u2", LEANING, tier="vip"),
                meta_item("h1", COIN, amount=5000),
                meta_item("n1", COIN),
                meta_item("n2", LEANING),
                meta_item("l1", COIN, tier="bulk"),
                meta_item("a1", (0.97, 0.03)),
                meta_item("n3", LEANING),
            ],
        )
        at(clock, 5)
        lw.import_labels("sms", [{"external_id": "n3", "payload": "message n3", "label": "spam"}])
        self.claim_and(lw, clock, "alice", "u1", 10, 20, Verdict.APPROVE)
        u2 = self.claim(lw, "alice", "u2")
        self.claim_and(lw, clock, "bob", "h1", 30, 40, Verdict.ESCALATE)
        at(clock, 90)
        lw.submit_verdict("sms", u2, "alice", Verdict.CORRECT, label="ham")
        self.claim_and(lw, clock, "zoe", "h1", 100, 120, Verdict.CORRECT, label="spam")
        at(clock, 1000)
        lw.submit("sms", [meta_item("x1", audit=True)])
        self.claim_and(lw, clock, "bob", "n1", 1400, 1500, Verdict.APPROVE)
        at(clock, 2000)
        self.claim(lw, "alice", "n2")
        with nothing_written(lw):
            return lw.stats("sms")

    @staticmethod
    def claim(lw: Loopwise, reviewer: str, expected: str) -> int:
        entry = lw.claim_next("sms", reviewer)
        assert entry is not None
        assert entry.item.external_id == expected
        return entry.task.id

    def claim_and(
        self,
        lw: Loopwise,
        clock: FrozenClock,
        reviewer: str,
        expected: str,
        claim_minute: float,
        verdict_minute: float,
        verdict: Verdict,
        label: str | None = None,
    ) -> None:
        at(clock, claim_minute)
        task = self.claim(lw, reviewer, expected)
        at(clock, verdict_minute)
        lw.submit_verdict("sms", task, reviewer, verdict, label=label)

    def test_counts_and_agreement_by_label(self, stats: ProjectStats) -> None:
        assert (stats.items, stats.decided, stats.queued, stats.resolved) == (9, 1, 3, 5)
        assert stats.routes == {"auto": 1, "human": 7, "expert": 1}
        assert (stats.open_tasks, stats.labels) == (3, 5)
        assert stats.as_of == NOW + timedelta(minutes=2000)
        assert stats.agreement_by_label == {
            "ham": LabelAgreement(n=3, agreed=2, share=2 / 3),
            "spam": LabelAgreement(n=2, agreed=1, share=0.5),
        }
        assert stats.human_ai_agreement == pytest.approx(3 / 5)

    def test_queue_by_level_and_stage_in_serve_order(self, stats: ProjectStats) -> None:
        assert stats.queue == (
            QueueLevel(
                "normal", "review", tasks=1, claimed=1, oldest_age_seconds=120_000, past_due=1
            ),
            QueueLevel(
                "normal", "expert", tasks=1, claimed=0, oldest_age_seconds=60_000, past_due=0
            ),
            QueueLevel("low", "review", tasks=1, claimed=0, oldest_age_seconds=120_000, past_due=0),
        )

    def test_latency_from_routing_to_resolution_by_people(self, stats: ProjectStats) -> None:
        minutes = [20, 90, 120, 1500]  # u1, u2, h1 (through the expert), n1
        assert dataclasses.asdict(stats.latency) == {
            "resolutions": 4,
            "measured": 4,
            "mean_seconds": pytest.approx(sum(minutes) * 60 / 4),
            "p50_seconds": pytest.approx((90 + 120) / 2 * 60),
            "p90_seconds": pytest.approx((120 + 0.7 * (1500 - 120)) * 60),
            "p99_seconds": pytest.approx((120 + 0.97 * (1500 - 120)) * 60),
        }

    def test_latency_covers_the_most_recent_resolutions(
        self, lw: Loopwise, stats: ProjectStats
    ) -> None:
        with lw.ctx.read() as tx:
            project_id = tx.repo.project_by_name("sms").id
            recent = review_latency(tx, project_id, window=2)

        assert (recent.resolutions, recent.measured) == (4, 2)
        assert recent.mean_seconds == pytest.approx((120 + 1500) / 2 * 60)
        assert recent.p50_seconds == pytest.approx((120 + 1500) / 2 * 60)

    def test_sla_compliance_by_the_level_that_set_the_deadline(self, stats: ProjectStats) -> None:
        assert stats.sla == SlaSummary(
            finished=4,
            on_time=2,
            on_time_rate=0.5,
            open_past_due=1,
            by_priority={
                "urgent": SlaLevel(finished=2, on_time=1, on_time_rate=0.5, open_past_due=0),
                "high": SlaLevel(finished=1, on_time=1, on_time_rate=1.0, open_past_due=0),
                "normal": SlaLevel(finished=1, on_time=0, on_time_rate=0.0, open_past_due=1),
                "low": SlaLevel(finished=0, on_time=0, on_time_rate=None, open_past_due=0),
            },
        )
        assert list(stats.sla.by_priority) == ["urgent", "high", "normal", "low"]

    def test_review_counts_to_price(self, stats: ProjectStats) -> None:
        assert stats.cost == CostInputs(reviews=5, expert_reviews=1, gold_reviews=0, decisions=9)
        assert stats.cost.per_decision(1.0, expert_price=5.0) == pytest.approx((4 + 5) / 9)
        assert stats.cost.per_decision(2.0) == pytest.approx(10 / 9)

    def test_to_json_is_plain_and_complete(self, stats: ProjectStats) -> None:
        data = stats.to_json()

        assert json.loads(json.dumps(data)) == data
        assert data["as_of"] == "2026-01-02T09:20:00+00:00"
        assert data["automation_rate"] == pytest.approx(1 / 9)
        assert data["queue"][0] == {
            "priority": "normal",
            "stage": "review",
            "tasks": 1,
            "claimed": 1,
            "oldest_age_seconds": 120_000.0,
            "past_due": 1,
        }
        assert data["sla"]["by_priority"]["low"] == {
            "finished": 0,
            "on_time": 0,
            "on_time_rate": None,
            "open_past_due": 0,
        }
        assert data["agreement_by_label"]["spam"] == {"n": 2, "agreed": 1, "share": 0.5}
        assert data["latency"]["resolutions"] == 4
        assert data["cost"] == {
            "reviews": 5,
            "expert_reviews": 1,
            "gold_reviews": 0,
            "decisions": 9,
        }
        assert set(data) == {
            "items",
            "decided",
            "queued",
            "resolved",
            "routes",
            "open_tasks",
            "labels",
            "human_ai_agreement",
            "agreement_by_label",
            "queue",
            "latency",
            "sla",
            "cost",
            "as_of",
            "automation_rate",
        }


def test_gold_tasks_are_reviews_but_not_queue_sla_or_latency(
    lw: Loopwise, clock: FrozenClock
) -> None:
    make_text_project(lw, review={"gold_rate": 0.5}, training=NO_HOLDOUT)
    lw.add_gold_items("sms", [{"external_id": "g", "payload": "gold text", "label": "ham"}])
    lw.submit("sms", text_items(["live 0", "live 1"]))
    add_reviewers(lw, "sms", "alice")
    lw.ctx.random = FixedChance(0.0)
    at(clock, 5)
    gold = lw.claim_next("sms", "alice")
    assert gold is not None
    assert gold.item.external_id == "g"

    held = lw.stats("sms")

    assert held.open_tasks == 3
    assert held.queue == (QueueLevel("normal", "review", 2, 0, 300.0, 0),)
    at(clock, 9)
    lw.submit_verdict("sms", gold.task.id, "alice", Verdict.CORRECT, label="ham")

    after = lw.stats("sms")

    assert after.cost == CostInputs(reviews=1, expert_reviews=0, gold_reviews=1, decisions=2)
    assert after.latency == NOTHING_RESOLVED
    assert after.sla == SlaSummary(0, 0, None, 0, {"normal": SlaLevel(0, 0, None, open_past_due=0)})
    assert (after.routes, after.labels, after.open_tasks) == ({"human": 2}, 0, 2)
