"""Verdicts and what they settle: single reviews, overlap and consensus, escalation to an expert,
blind review, undo, and review sessions (fatigue)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loopwise import LabelSource, Loopwise, Priority, QueueEntry, Stage, Verdict
from loopwise.consensus import settle as consensus
from loopwise.consensus.settle import settle
from loopwise.errors import InvalidInput, TaskNotFound, UndoWindowClosed
from loopwise.testing import FrozenClock
from tests.factories import COIN, LEANING, add_reviewers, meta_item, review_project
from tests.integration.helpers import events, one, refused, rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
AGGREGATORS = ["dawid_skene", "majority_vote"]
THREE = ("ham", "spam", "scam")


def claimed(lw: Loopwise, reviewer: str, project: str = "sms", **kwargs: Any) -> QueueEntry:
    entry = lw.claim_next(project, reviewer, **kwargs)
    assert entry is not None, f"{reviewer} found nothing to claim"
    return entry


def one_task(lw: Loopwise, item: dict[str, Any], project: str = "sms") -> int:
    [routed] = lw.submit(project, [item])
    assert routed.task_id is not None
    return routed.task_id


class TestSingleReview:
    def test_an_answer_resolves_the_item_with_the_label_it_means(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice")
        cases = [
            (Verdict.APPROVE, None, "spam"),
            (Verdict.REJECT, None, "ham"),  # two labels: rejecting spam means ham
            (Verdict.CORRECT, "ham", "ham"),
        ]
        for i, (verdict, given, meant) in enumerate(cases):
            task = one_task(lw, meta_item(f"i{i}", LEANING))
            claimed(lw, "alice")

            result = lw.submit_verdict("sms", task, "alice", verdict, label=given)

            assert (result.resolved, result.escalated, result.final_label) == (True, False, meant)
            assert result.label is not None
            assert (result.label.value, result.label.source) == (meant, LabelSource.REVIEWER)
            label = one(lw, "label", review_task_id=task)
            assert (label["value"], label["source"]) == (meant, "reviewer")
            assert one(lw, "item", external_id=f"i{i}")["status"] == "resolved"
            assert one(lw, "review_task", id=task)["status"] == "done"
            assert one(lw, "review", task_id=task)["verdict"] == verdict.value

    def test_escalate_hands_the_task_to_an_expert_whose_verdict_is_final(
        self, lw: Loopwise
    ) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice")
        add_reviewers(lw, "sms", "erin", role="expert")
        task = one_task(lw, meta_item("a", LEANING, fraud=True, tier="bulk"))
        lw.update_reviewer("alice", tags=["fraud"])
        lw.update_reviewer("erin", tags=["fraud"])
        claimed(lw, "alice")

        result = lw.submit_verdict("sms", task, "alice", Verdict.ESCALATE, label="ham")

        assert (result.escalated, result.resolved, result.review.label) == (True, False, "ham")
        old, expert = rows(lw, "review_task")
        assert (old["status"], old["claimed_by"], old["resolved_at"]) == ("escalated", None, NOW)
        assert (expert["stage"], expert["status"], expert["escalated_from"]) == (
            "expert",
            "open",
            task,
        )
        assert (expert["priority"], expert["required_tags"]) == (int(Priority.HIGH), "fraud")
        [escalated] = events(lw, "task.escalated")
        assert escalated["after"] == {
            "expert_task_id": expert["id"],
            "reason": "escalated by alice",
        }
        assert rows(lw, "label") == []
        assert one(lw, "item")["status"] == "queued"

        entry = claimed(lw, "erin")
        assert entry.task.id == expert["id"]
        assert [(r.reviewer, r.verdict, r.label) for r in entry.earlier_reviews] == [
            ("alice", Verdict.ESCALATE, "ham")
        ]
        with refused(lw, InvalidInput, "verdict"):
            lw.submit_verdict("sms", entry.task.id, "erin", Verdict.ESCALATE)
        final = lw.submit_verdict("sms", entry.task.id, "erin", Verdict.CORRECT, label="spam")
        assert final.label is not None
        assert (final.label.source, final.label.value) == (LabelSource.EXPERT, "spam")
        assert one(lw, "decision")["decided_by"] == "erin"

    def test_enough_skips_escalate_to_an_expert(self, lw: Loopwise) -> None:
        review_project(lw, review={"skips_to_escalate": 2})
        add_reviewers(lw, "sms", "alice", "bob", "carol")
        task = one_task(lw, meta_item("a"))
        claimed(lw, "alice")
        assert lw.submit_verdict("sms", task, "alice", Verdict.SKIP).escalated is False
        claimed(lw, "bob")

        result = lw.submit_verdict("sms", task, "bob", Verdict.SKIP)

        assert (result.escalated, result.resolved) == (True, False)
        old, expert = rows(lw, "review_task")
        assert (old["status"], old["skips"]) == ("escalated", 2)
        assert (expert["stage"], expert["escalated_from"]) == ("expert", task)
        [escalated] = events(lw, "task.escalated")
        assert (escalated["actor"], escalated["after"]["reason"]) == (
            "system",
            "skipped by 2 reviewers",
        )
        assert lw.claim_next("sms", "carol") is None


class TestOverlap:
    @pytest.mark.parametrize("aggregator", AGGREGATORS)
    def test_three_reviewers_one_at_a_time_then_consensus(
        self, lw: Loopwise, aggregator: str
    ) -> None:
        review_project(lw, review={"overlap": 3, "aggregator": aggregator})
        add_reviewers(lw, "sms", "alice", "bob", "carol", "dave")
        task = one_task(lw, meta_item("a", LEANING))
        assert one(lw, "review_task")["required_reviews"] == 3
        answers = [("alice", Verdict.APPROVE, None), ("bob", Verdict.CORRECT, "ham")]
        for name, verdict, label in answers:
            entry = claimed(lw, name)
            assert entry.task.id == task
            assert lw.claim_next("sms", "dave") is None  # one holder at a time
            result = lw.submit_verdict("sms", task, name, verdict, label=label)
            assert (result.resolved, result.escalated, result.label) == (False, False, None)
            row = one(lw, "review_task")
            assert (row["status"], row["claimed_by"]) == ("open", None)
            assert lw.claim_next("sms", name) is None  # never the same item twice
        assert rows(lw, "label") == []
        claimed(lw, "carol")

        result = lw.submit_verdict("sms", task, "carol", Verdict.APPROVE)

        expected = settle(
            [("alice", 1), ("bob", 0), ("carol", 1)], [], n_classes=2, method=aggregator
        )
        assert (result.resolved, result.final_label) == (True, "spam")
        stored = one(lw, "label")
        assert (stored["value"], stored["source"], stored["created_by"]) == (
            "spam",
            "consensus",
            "carol",
        )
        assert stored["agreement"] == pytest.approx(2 / 3)
        assert stored["weight"] == pytest.approx(expected.confidence)
        assert 0.5 < stored["weight"] <= 1.0
        assert sorted(r["reviewer"] for r in rows(lw, "review")) == ["alice", "bob", "carol"]
        assert one(lw, "item")["status"] == "resolved"
        assert lw.claim_next("sms", "dave") is None

    def test_a_rule_can_ask_for_more_reviews_than_the_overlap(self, lw: Loopwise) -> None:
        review_project(lw)
        add_reviewers(lw, "sms", "alice", "bob", "carol")
        lw.submit("sms", [meta_item("t", triple=True), meta_item("p")])
        counts = {r["item_id"]: r["required_reviews"] for r in rows(lw, "review_task")}
        assert sorted(counts.values()) == [1, 3]
        for name in ("alice", "bob", "carol"):
            while (entry := lw.claim_next("sms", name)) is not None:
                lw.submit_verdict("sms", entry.task.id, name, Verdict.APPROVE)
        assert [r["source"] for r in rows(lw, "label")] == ["reviewer", "consensus"]
        assert len(rows(lw, "review")) == 4

    @pytest.mark.parametrize("aggregator", AGGREGATORS)
    def test_disagreement_goes_to_an_expert_who_sees_every_review(
        self, lw: Loopwise, aggregator: str
    ) -> None:
        review_project(lw, review={"overlap": 3, "aggregator": aggregator}, labels=THREE)
        add_reviewers(lw, "sms", "alice", "bob", "carol")
        add_reviewers(lw, "sms", "erin", role="expert")
        task = one_task(lw, meta_item("a", (0.2, 0.5, 0.3)))
        for name, label in [("alice", "ham"), ("bob", "spam"), ("carol", "scam")]:
            claimed(lw, name)
            result = lw.submit_verdict("sms", task, name, Verdict.CORRECT, label=label)

        assert (result.escalated, result.resolved) == (True, False)
        [escalated] = events(lw, "task.escalated")
        assert escalated["after"]["reason"] == ("reviewers disagreed: agreement 0.33 is below 0.66")
        assert rows(lw, "label") == []
        assert one(lw, "item")["status"] == "queued"
        entry = claimed(lw, "erin")
        assert (entry.task.stage, entry.task.escalated_from) == (Stage.EXPERT, task)
        assert [(r.reviewer, r.label) for r in entry.earlier_reviews] == [
            ("alice", "ham"),
            ("bob", "spam"),
            ("carol", "scam"),
        ]

        final = lw.submit_verdict("sms", entry.task.id, "erin", Verdict.CORRECT, label="scam")

        stored = one(lw, "label")
        assert (stored["value"], stored["source"], stored["weight"]) == ("scam", "expert", 1.0)
        assert (final.resolved, final.final_label) == (True, "scam")
        assert one(lw, "item")["status"] == "resolved"

    def test_min_agreement_decides_whether_two_of_three_is_enough(self, lw: Loopwise) -> None:
        review_project(lw, review={"overlap": 3, "min_agreement": 0.7})
        add_reviewers(lw, "sms", "alice", "bob", "carol")
        task = one_task(lw, meta_item("a", LEANING))
        for name, verdict in [("alice", "approve"), ("bob", "approve"), ("carol", "reject")]:
            claimed(lw, name)
            result = lw.submit_verdict("sms", task, name, verdict)
        assert result.escalated
        assert rows(lw, "label") == []

    def test_two_reviewers_who_agree_resolve_the_item(self, lw: Loopwise) -> None:
        review_project(lw, review={"overlap": 2})
        add_reviewers(lw, "sms", *(f"r-{i}" for i in range(8)))
        plan = [
            ("a", [("r-3", "ham"), ("r-1", "ham")]),
            ("b", [("r-0", "spam"), ("r-4", "spam")]),
            ("c", [("r-1", "spam"), ("r-0", "spam")]),
            ("d", [("r-7", "spam"), ("r-6", "spam")]),
        ]
        for external_id, answers in plan:
            task = one_task(lw, meta_item(external_id, LEANING))
            for name, label in answers:
                assert claimed(lw, name).task.id == task
                result = lw.submit_verdict("sms", task, name, Verdict.CORRECT, label=label)

            assert (external_id, result.resolved, result.final_label) == (
                external_id,
                True,
                answers[0][1],
            )

    @pytest.mark.parametrize("aggregator", AGGREGATORS)
    def test_the_fit_is_kept_until_a_twentieth_more_answers_came(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch, aggregator: str
    ) -> None:
        """Reviewer reliability is fitted on the history when a consensus needs it, then kept:
        the next tasks are settled with it until the answers since reach a twentieth of
        those it was fitted on (then the aggregator is fitted again, on the new history)."""
        review_project(lw, review={"overlap": 2, "aggregator": aggregator})
        add_reviewers(lw, "sms", "alice", "bob")
        fits: list[int] = []
        real = settle

        def counted(*args: Any, **kwargs: Any) -> Any:
            fits.append(len(args[1]))
            return real(*args, **kwargs)

        monkeypatch.setattr(consensus, "settle", counted)
        settled = []
        for i in range(40):
            task = one_task(lw, meta_item(f"t{i}", LEANING))
            for name in ("alice", "bob"):
                claimed(lw, name)
                result = lw.submit_verdict("sms", task, name, Verdict.CORRECT, label="spam")
            settled.append(result)

        assert all(r.resolved and r.final_label == "spam" for r in settled)
        # Task k is fitted with 2k answers of history plus its own two. Each task brings two
        # new answers, which call for a new fit while a twentieth of the last fit's answers
        # is 2 or fewer; from 60 answers it takes 3, so every other task uses the kept fit.
        assert fits == [*range(0, 60, 2), 62, 66, 70, 74, 78]
        labels = rows(lw, "label")
        assert len(labels) == 40
        assert {(r["source"], r["value"]) for r in labels} == {("consensus", "spam")}
        assert all(0.5 < r["weight"] <= 1.0 for r in labels)


class TestBlindReview:
    def test_reviewers_see_only_their_own_reviews_while_the_item_is_open(
        self, lw: Loopwise
    ) -> None:
        review_project(lw, review={"overlap": 3})
        add_reviewers(lw, "sms", "alice", "bob", "carol")
        add_reviewers(lw, "sms", "erin", role="expert")
        task = one_task(lw, meta_item("a", LEANING))
        item = one(lw, "item")["id"]
        claimed(lw, "alice")
        lw.submit_verdict("sms", task, "alice", Verdict.APPROVE, comment="looks like spam")
        entry = claimed(lw, "bob")
        assert entry.earlier_reviews == ()  # blind: no hint of alice's answer
        lw.submit_verdict("sms", task, "bob", Verdict.CORRECT, label="ham")

        def seen_by(viewer: str | None) -> list[str]:
            return [r.reviewer for r in lw.reviews_of_item(item, viewer=viewer)]

        assert seen_by("alice") == ["alice"]
        assert seen_by("bob") == ["bob"]
        assert seen_by("carol") == []
        assert seen_by("erin") == ["alice", "bob"]
        assert seen_by(None) == ["alice", "bob"]
        claimed(lw, "carol")
        lw.submit_verdict("sms", task, "carol", Verdict.APPROVE)
        assert seen_by("bob") == ["alice", "bob", "carol"]  # resolved: no longer blind


class TestUndo:
    def test_undo_reverts_a_resolution_and_hands_the_task_back(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        review_project(lw, review={"undo_seconds": 30})
        add_reviewers(lw, "sms", "alice")
        task = one_task(lw, meta_item("a", LEANING))
        claimed(lw, "alice")
        result = lw.submit_verdict("sms", task, "alice", Verdict.CORRECT, label="ham")
        assert one(lw, "label")["value"] == "ham"
        now = clock.advance(seconds=30)

        undone = lw.undo("sms", "alice")

        assert undone == result.review
        assert rows(lw, "label") == []
        assert rows(lw, "review") == []
        assert one(lw, "item")["status"] == "queued"
        decision = one(lw, "decision")
        assert (decision["final_label"], decision["decided_by"], decision["decided_at"]) == (
            None,
            None,
            None,
        )
        row = one(lw, "review_task")
        assert (row["status"], row["claimed_by"], row["resolved_at"]) == ("claimed", "alice", None)
        assert row["lease_expires_at"] == now + timedelta(seconds=300)
        [event] = events(lw, "review.undone")
        assert (event["actor"], event["entity_id"]) == ("alice", str(task))
        assert event["before"]["label"] == "ham"
        again = lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        assert (again.final_label, one(lw, "label")["value"]) == ("spam", "spam")

    def test_undo_is_refused_after_the_window(self, lw: Loopwise, clock: FrozenClock) -> None:
        review_project(lw, review={"undo_seconds": 30})
        add_reviewers(lw, "sms", "alice")
        with refused(lw, TaskNotFound, "reviewer"):
            lw.undo("sms", "alice")
        task = one_task(lw, meta_item("a", LEANING))
        claimed(lw, "alice")
        lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        clock.advance(seconds=31)

        with refused(lw, UndoWindowClosed, "review"):
            lw.undo("sms", "alice")
        assert one(lw, "label")["value"] == "spam"

    def test_undo_is_refused_once_someone_else_acted(self, lw: Loopwise) -> None:
        review_project(lw, review={"overlap": 2, "min_agreement": 0.5})
        add_reviewers(lw, "sms", "alice", "bob")
        task = one_task(lw, meta_item("a", LEANING))
        claimed(lw, "alice")
        lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)
        claimed(lw, "bob")
        with refused(lw, UndoWindowClosed, "review"):  # bob holds the task now
            lw.undo("sms", "alice")
        lw.submit_verdict("sms", task, "bob", Verdict.APPROVE)

        with refused(lw, UndoWindowClosed, "review"):  # bob reviewed it since
            lw.undo("sms", "alice")
        assert one(lw, "label")["source"] == "consensus"

    def test_undo_of_an_escalation_withdraws_the_untaken_expert_task(self, lw: Loopwise) -> None:
        review_project(lw, review={"skips_to_escalate": 1})
        add_reviewers(lw, "sms", "alice", "bob")
        add_reviewers(lw, "sms", "erin", role="expert")
        first = one_task(lw, meta_item("a"))
        second = one_task(lw, meta_item("b"))
        claimed(lw, "alice")
        lw.submit_verdict("sms", first, "alice", Verdict.SKIP)  # one skip escalates here

        lw.undo("sms", "alice")

        expert = one(lw, "review_task", escalated_from=first)
        assert expert["status"] == "cancelled"
        row = one(lw, "review_task", id=first)
        assert (row["status"], row["claimed_by"], row["skips"]) == ("claimed", "alice", 0)
        assert one(lw, "item", external_id="a")["status"] == "queued"
        claimed(lw, "bob")
        lw.submit_verdict("sms", second, "bob", Verdict.ESCALATE)
        claimed(lw, "erin", stage="expert")
        with refused(lw, UndoWindowClosed, "review"):
            lw.undo("sms", "bob")


class TestSessions:
    @pytest.mark.parametrize(
        ("config", "spacing", "break_at"),
        [
            ({"break_after_tasks": 3}, 60, 3),
            ({"break_after_minutes": 5}, 150, 3),
        ],
    )
    def test_a_break_is_suggested_then_a_gap_starts_a_new_session(
        self,
        lw: Loopwise,
        clock: FrozenClock,
        config: dict[str, Any],
        spacing: int,
        break_at: int,
    ) -> None:
        review_project(lw, review={"session_gap_minutes": 10, **config})
        add_reviewers(lw, "sms", "alice", max_open_tasks=1)
        lw.submit("sms", [meta_item(f"i{i}", COIN) for i in range(5)])
        seen = []
        for i in range(4):
            if i:
                clock.advance(seconds=spacing)
            entry = claimed(lw, "alice")
            result = lw.submit_verdict("sms", entry.task.id, "alice", Verdict.APPROVE)
            assert result.session is not None
            seen.append(
                (result.session.count, result.session.minutes, result.session.break_suggested)
            )
        step = spacing / 60
        assert seen == [(n + 1, n * step, n + 1 >= break_at) for n in range(4)]
        assert [r["session_position"] for r in rows(lw, "review")] == [1, 2, 3, 4]

        clock.advance(minutes=10)
        entry = claimed(lw, "alice")
        rested = lw.submit_verdict("sms", entry.task.id, "alice", Verdict.APPROVE).session
        assert rested is not None
        assert (rested.count, rested.minutes, rested.break_suggested) == (1, 0.0, False)
        assert rested.started_at == clock.now().isoformat()
