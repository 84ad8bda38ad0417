"""The review workflow end to end: serve order, SLAs and ageing, leases, who may take which
task, and refusals that change nothing. Consensus and undo are in
``test_review_workflow_consensus.py``, gold tasks in ``test_review_workflow_gold.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loopwise import Loopwise, Priority, QueueEntry, Stage, TaskStatus, Verdict
from loopwise.errors import (
    InvalidInput,
    InvalidLabel,
    LeaseExpired,
    LimitReached,
    NotAllowed,
    NotTaskHolder,
    ReviewerNotFound,
)
from loopwise.testing import FrozenClock
from tests.factories import COIN, LEANING, SURE_ISH, add_reviewers, meta_item, review_project
from tests.integration.helpers import events, one, refused, row_counts, rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=300)


def claimed(lw: Loopwise, reviewer: str, project: str = "sms", **kwargs: Any) -> QueueEntry:
    entry = lw.claim_next(project, reviewer, **kwargs)
    assert entry is not None, f"{reviewer} found nothing to claim"
    return entry


def queued(lw: Loopwise, *items: dict[str, Any], project: str = "sms") -> dict[str, int]:
    """Submit ``items``; their task ids by external id (every one must be queued)."""
    routed = lw.submit(project, list(items))
    assert all(r.task_id is not None for r in routed)
    return {r.external_id: int(r.task_id or 0) for r in routed}


class TestServeOrder:
    def test_level_then_score_then_age(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", max_open_tasks=10)
        task = queued(
            lw,
            meta_item("normal-leaning", LEANING),
            meta_item("low-coin", COIN, tier="bulk"),
            meta_item("normal-coin-1", COIN),
            meta_item("urgent-sure", SURE_ISH, tier="vip"),
            meta_item("normal-coin-2", COIN),
            meta_item("high-sure", SURE_ISH, amount=5000),
        )
        order = [
            "urgent-sure",
            "high-sure",
            "normal-coin-1",
            "normal-coin-2",
            "normal-leaning",
            "low-coin",
        ]

        queue = lw.queue("sms")

        assert [e.item.external_id for e in queue] == order
        assert [e.task.priority for e in queue] == [
            Priority.URGENT,
            Priority.HIGH,
            *[Priority.NORMAL] * 3,
            Priority.LOW,
        ]
        assert [claimed(lw, "alice").task.id for _ in order] == [task[x] for x in order]
        assert lw.claim_next("sms", "alice") is None

    def test_sla_deadline_comes_from_the_review_config(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw, review={"sla_minutes": {"urgent": 30, "low": 600}})
        first = queued(lw, meta_item("u", tier="vip"), meta_item("n"), meta_item("l", tier="bulk"))
        due = {r["id"]: r["due_at"] for r in rows(lw, "review_task")}
        assert [due[first[x]] for x in "unl"] == [
            NOW + timedelta(minutes=30),
            NOW + timedelta(minutes=1440),
            NOW + timedelta(minutes=600),
        ]
        assert {e.task.id: e.task.due_at for e in lw.queue("sms")} == due

        lw.set_review_config("sms", {"sla_minutes": {"urgent": 5}})
        later = clock.advance(minutes=10)
        second = queued(lw, meta_item("u2", tier="vip"))

        assert one(lw, "review_task", id=second["u2"])["due_at"] == later + timedelta(minutes=5)
        assert one(lw, "review_task", id=first["u"])["due_at"] == NOW + timedelta(minutes=30)

    @pytest.mark.parametrize("ageing", [60, None])
    def test_a_waiting_low_task_moves_up_a_level_per_ageing_period(
        self, lw: Loopwise, clock: FrozenClock, ageing: int | None
    ) -> None:
        """Urgent work keeps arriving. With ageing the low task moves up a level at the first
        claim after each full period (not a minute before) and is served once it is urgent;
        without ageing it waits behind every urgent task."""
        review_project(lw, review={"ageing_minutes": ageing})
        add_reviewers(lw, "sms", "alice")
        low = queued(lw, meta_item("low", COIN, tier="bulk"))["low"]
        served: list[str] = []
        levels: list[int] = []
        for minute in [0, 59, 60, 119, 120, 179, 180]:
            clock.advance(minutes=minute - (clock.now() - NOW).total_seconds() / 60)
            queued(lw, meta_item(f"urgent-{minute}", SURE_ISH, tier="vip"))
            entry = claimed(lw, "alice")
            served.append(entry.item.external_id)
            levels.append(one(lw, "review_task", id=low)["priority"])
            if entry.task.id != low:
                lw.submit_verdict("sms", entry.task.id, "alice", Verdict.APPROVE)

        task = one(lw, "review_task", id=low)
        assert task["due_at"] == NOW + timedelta(minutes=4320)
        assert task["base_priority"] == int(Priority.LOW)
        aged = [e for e in events(lw, "task.aged") if e["entity_id"] == str(low)]
        if ageing is None:
            assert served[-1] == "urgent-180"
            assert levels == [3] * 7
            assert (aged, task["promote_at"]) == ([], None)
            return
        assert served == [*(f"urgent-{m}" for m in (0, 59, 60, 119, 120, 179)), "low"]
        assert levels == [3, 3, 2, 2, 1, 1, 0]
        assert [(e["before"], e["after"], e["actor"]) for e in aged] == [
            ({"priority": 3}, {"priority": 2}, "system"),
            ({"priority": 2}, {"priority": 1}, "system"),
            ({"priority": 1}, {"priority": 0}, "system"),
        ]
        assert [e["created_at"] for e in aged] == [
            NOW + timedelta(minutes=m) for m in (60, 120, 180)
        ]
        assert task["promote_at"] is None


class TestLeases:
    def test_claim_gives_a_lease_and_heartbeat_renews_it(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", "bob")
        task = queued(lw, meta_item("a"))["a"]
        entry = claimed(lw, "alice")
        assert (entry.task.status, entry.task.claimed_by) == (TaskStatus.CLAIMED, "alice")
        assert entry.task.lease_expires_at == NOW + LEASE
        [claim] = events(lw, "task.claimed")
        assert (claim["actor"], claim["entity_id"]) == ("alice", str(task))
        assert claim["after"] == {"lease_expires_at": (NOW + LEASE).isoformat()}

        clock.advance(seconds=200)
        assert lw.heartbeat("sms", task, "alice") == NOW + timedelta(seconds=500)
        assert one(lw, "review_task", id=task)["lease_expires_at"] == NOW + timedelta(seconds=500)
        clock.advance(seconds=250)  # past the first lease, inside the renewed one
        assert lw.claim_next("sms", "bob") is None
        result = lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        assert result.resolved
        with refused(lw, NotTaskHolder, "task_id"):
            lw.heartbeat("sms", task, "alice")

    def test_the_project_lease_overrides_the_settings(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw, review={"lease_seconds": 60})
        add_reviewers(lw, "sms", "alice", "bob")
        task = queued(lw, meta_item("a"))["a"]
        assert lw.settings.lease_seconds == 300

        assert claimed(lw, "alice").task.lease_expires_at == NOW + timedelta(seconds=60)
        clock.advance(seconds=30)
        assert lw.heartbeat("sms", task, "alice") == NOW + timedelta(seconds=90)
        clock.advance(seconds=60)
        assert claimed(lw, "bob").task.id == task

    def test_an_expired_lease_returns_the_task_at_the_next_claim(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", "bob")
        task = queued(lw, meta_item("a"))["a"]
        claimed(lw, "alice")
        clock.advance(seconds=299)
        assert lw.claim_next("sms", "bob") is None
        clock.advance(seconds=1)

        with refused(lw, LeaseExpired, "task_id"):
            lw.heartbeat("sms", task, "alice")
        with refused(lw, LeaseExpired, "task_id"):
            lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        entry = claimed(lw, "bob")

        assert (entry.task.id, entry.task.claimed_by) == (task, "bob")
        assert entry.task.lease_expires_at == clock.now() + LEASE
        [lapsed] = events(lw, "task.lease_expired")
        assert (lapsed["actor"], lapsed["entity_id"]) == ("system", str(task))
        assert lapsed["before"] == {"claimed_by": "alice"}
        assert lapsed["created_at"] == NOW + LEASE
        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        with refused(lw, NotTaskHolder, "task_id"):
            lw.heartbeat("sms", task, "alice")
        assert lw.submit_verdict("sms", task, "bob", Verdict.APPROVE).resolved

    def test_release_and_skip_give_the_task_back(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", "bob")
        task = queued(lw, meta_item("a"))["a"]
        claimed(lw, "alice")
        with refused(lw, NotTaskHolder, "task_id"):
            lw.release("sms", task, "bob")

        lw.release("sms", task, "alice")

        row = one(lw, "review_task", id=task)
        assert (row["status"], row["claimed_by"], row["lease_expires_at"]) == ("open", None, None)
        [released] = events(lw, "task.released")
        assert (released["actor"], released["entity_id"]) == ("alice", str(task))
        assert rows(lw, "review") == []
        assert claimed(lw, "alice").task.id == task  # a release is no answer: she may return

        result = lw.submit_verdict("sms", task, "alice", Verdict.SKIP)

        assert (result.resolved, result.escalated, result.review.verdict) == (
            False,
            False,
            Verdict.SKIP,
        )
        row = one(lw, "review_task", id=task)
        assert (row["status"], row["claimed_by"], row["skips"]) == ("open", None, 1)
        assert one(lw, "item")["status"] == "queued"
        assert lw.claim_next("sms", "alice") is None  # she passed on it: never again
        assert claimed(lw, "bob").task.id == task


class TestWhoMayTakeWhat:
    def test_expert_tasks_are_for_experts_and_admins(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "rita")
        add_reviewers(lw, "sms", "erin", role="expert")
        lw.add_reviewer("root", role="admin")  # admins need no membership
        task = queued(lw, meta_item("plain"), meta_item("audited", audit=True))
        assert one(lw, "review_task", id=task["audited"])["stage"] == "expert"

        with refused(lw, NotAllowed, "stage"):
            lw.claim_next("sms", "rita", stage="expert")
        assert claimed(lw, "rita").task.id == task["plain"]
        assert lw.claim_next("sms", "rita") is None
        expert = claimed(lw, "erin")
        assert (expert.task.id, expert.task.stage) == (task["audited"], Stage.EXPERT)
        result = lw.submit_verdict("sms", expert.task.id, "erin", Verdict.CORRECT, label="spam")
        assert result.label is not None
        assert (result.label.source.value, result.label.value) == ("expert", "spam")
        lw.release("sms", task["plain"], "rita")
        assert lw.claim_next("sms", "root", stage=Stage.EXPERT) is None
        assert claimed(lw, "root").task.id == task["plain"]

    def test_experts_clear_expert_work_before_review_work(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "erin", role="expert")
        task = queued(lw, meta_item("urgent", tier="vip"), meta_item("audited", audit=True))

        assert claimed(lw, "erin").task.id == task["audited"]
        assert claimed(lw, "erin").task.id == task["urgent"]

    def test_tagged_tasks_go_only_to_reviewers_with_the_tags(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice")
        add_reviewers(lw, "sms", "fiona", tags=["fraud", "legal"])
        add_reviewers(lw, "sms", "erin", role="expert")
        lw.add_reviewer("root", role="admin")
        task = queued(lw, meta_item("fraud", COIN, fraud=True), meta_item("plain", LEANING))
        assert one(lw, "review_task", id=task["fraud"])["required_tags"] == "fraud"

        assert claimed(lw, "alice").task.id == task["plain"]
        assert lw.claim_next("sms", "alice") is None
        assert lw.claim_next("sms", "erin") is None  # the expert role is no expertise tag
        entry = claimed(lw, "fiona")
        assert (entry.task.id, entry.task.required_tags) == (task["fraud"], ("fraud",))
        lw.release("sms", task["fraud"], "fiona")
        assert claimed(lw, "root").task.id == task["fraud"]

    def test_max_open_tasks_and_daily_limit(self, lw: Loopwise, clock: FrozenClock) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", max_open_tasks=2, daily_limit=3)
        task = queued(lw, *(meta_item(f"i{i}") for i in range(6)))
        first, second = claimed(lw, "alice"), claimed(lw, "alice")

        with refused(lw, LimitReached, "reviewer"):
            lw.claim_next("sms", "alice")
        for entry in (first, second):
            lw.submit_verdict("sms", entry.task.id, "alice", Verdict.APPROVE)
        third = claimed(lw, "alice")
        lw.submit_verdict("sms", third.task.id, "alice", Verdict.SKIP)  # a skip counts too
        with refused(lw, LimitReached, "reviewer"):
            lw.claim_next("sms", "alice")
        clock.advance(hours=23, minutes=59)
        with refused(lw, LimitReached, "reviewer"):
            lw.claim_next("sms", "alice")
        clock.advance(minutes=1)  # midnight (UTC): a new day
        assert claimed(lw, "alice").task.id == task["i3"]

    def test_lapsed_leases_do_not_count_against_the_limit(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", max_open_tasks=1)
        task = queued(lw, meta_item("a"))["a"]
        claimed(lw, "alice")
        clock.advance(seconds=301)

        entry = lw.claim_next("sms", "alice")

        assert entry is not None
        assert entry.task.id == task

    def test_deactivated_unknown_and_outside_reviewers_are_refused(self, lw: Loopwise) -> None:
        review_project(lw)
        review_project(lw, "other")
        add_reviewers(lw, "sms", "alice")
        add_reviewers(lw, "other", "olga")
        task = queued(lw, meta_item("a"))["a"]
        claimed(lw, "alice")

        with refused(lw, NotAllowed, "project"):
            lw.claim_next("sms", "olga")
        with refused(lw, NotAllowed, "project"):
            lw.submit_verdict("sms", task, "olga", Verdict.APPROVE)
        with refused(lw, ReviewerNotFound, "reviewer"):
            lw.claim_next("sms", "nobody")
        with refused(lw, ReviewerNotFound, "reviewer"):
            lw.submit_verdict("sms", task, "nobody", Verdict.APPROVE)
        lw.update_reviewer("alice", active=False)
        with refused(lw, NotAllowed, "reviewer"):
            lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        with refused(lw, NotAllowed, "reviewer"):
            lw.heartbeat("sms", task, "alice")


class TestRefusedVerdicts:
    def test_bad_verdicts_change_nothing(self, lw: Loopwise, clock: FrozenClock) -> None:
        review_project(lw, error_taxonomy=["typo", "sarcasm"])
        add_reviewers(lw, "sms", "alice", "bob")
        task = queued(lw, meta_item("a", LEANING), meta_item("b", LEANING))
        claimed(lw, "alice")
        cases: list[tuple[dict[str, Any], type[InvalidInput], str]] = [
            ({"verdict": "maybe"}, InvalidInput, "verdict"),
            ({"verdict": Verdict.CORRECT, "label": "eggs"}, InvalidLabel, "label"),
            ({"verdict": Verdict.CORRECT}, InvalidInput, "label"),
            ({"verdict": Verdict.APPROVE, "label": "ham"}, InvalidInput, "label"),
            (
                {"verdict": Verdict.APPROVE, "error_category": "model_bias"},
                InvalidInput,
                "error_category",
            ),
        ]
        for kwargs, error, field in cases:
            verdict = kwargs.pop("verdict")
            with refused(lw, error, field):
                lw.submit_verdict("sms", task["a"], "alice", verdict, **kwargs)
        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", task["b"], "alice", Verdict.APPROVE)  # not held
        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", task["a"], "bob", Verdict.APPROVE)  # held by alice

        result = lw.submit_verdict(
            "sms", task["a"], "alice", Verdict.CORRECT, label="ham", error_category="typo"
        )
        assert (result.review.error_category, result.final_label) == ("typo", "ham")
        assert one(lw, "review")["error_category"] == "typo"
        with refused(lw, NotTaskHolder, "task_id"):  # twice
            lw.submit_verdict("sms", task["a"], "alice", Verdict.APPROVE)
        claimed(lw, "alice")
        clock.advance(seconds=301)
        with refused(lw, LeaseExpired, "task_id"):
            lw.submit_verdict("sms", task["b"], "alice", Verdict.APPROVE)
        assert one(lw, "label")["value"] == "ham"

    def test_bad_review_configs_change_nothing(self, lw: Loopwise) -> None:
        review_project(lw, review={"overlap": 2})
        counts = row_counts(lw)
        bad: list[tuple[dict[str, Any], str]] = [
            ({"overlap": 0}, "review.overlap"),
            ({"gold_rate": 0.9}, "review.gold_rate"),
            ({"aggregator": "vote"}, "review.aggregator"),
            ({"sla_minutes": {"whenever": 5}}, "review.sla_minutes"),
            ({"lease_seconds": 1}, "review.lease_seconds"),
            ({"overlapp": 3}, "review.overlapp"),
        ]
        for config, field in bad:
            with refused(lw, InvalidInput, field):
                lw.set_review_config("sms", config)
            with pytest.raises(InvalidInput) as info:
                review_project(lw, "new", review=config)
            assert info.value.field == field
        assert row_counts(lw) == counts
        assert lw.project("sms").review.overlap == 2

    def test_a_review_config_that_is_no_mapping_is_invalid_input(self, lw: Loopwise) -> None:
        review_project(lw)
        for config in ["overlap: 3", 3, None]:
            with refused(lw, InvalidInput, "review"):
                lw.set_review_config("sms", config)  # type: ignore[arg-type]
