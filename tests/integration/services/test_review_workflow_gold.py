"""Gold (honeypot) tasks: served at the project's gold rate like any other task, scored, used to
flag unreliable reviewers and to weigh them in consensus; never labels, never routed work."""

from __future__ import annotations

import random
from typing import Any

import pytest

from loopwise import Loopwise, QueueEntry, Stage, Verdict
from loopwise.errors import DuplicateExternalId, InvalidInput, InvalidLabel
from loopwise.testing import FrozenClock
from tests.factories import (
    CONFIDENT_ROUTING,
    LEANING,
    NO_HOLDOUT,
    add_reviewers,
    make_text_project,
    meta_item,
    review_project,
    seeded_model,
    text_items,
)
from tests.integration.helpers import events, one, refused, rows

HAM_GOLD = [
    {"external_id": f"gold-{i}", "payload": f"gold text {i}", "label": "ham"} for i in range(10)
]


class AlwaysGold(random.Random):
    """A chance source whose every draw is 0.0: each claim is offered a gold task."""

    def random(self) -> float:
        return 0.0


def claimed(lw: Loopwise, reviewer: str, project: str = "sms", **kwargs: Any) -> QueueEntry:
    entry = lw.claim_next(project, reviewer, **kwargs)
    assert entry is not None, f"{reviewer} found nothing to claim"
    return entry


def gold_project(lw: Loopwise, review: dict[str, Any], live: int = 2) -> None:
    """No model: gold and live items alike carry no suggestion, so answers are corrections.
    Gold is only mixed into live work, so ``live`` items wait in the queue."""
    make_text_project(lw, review=review, training=NO_HOLDOUT)
    lw.add_gold_items("sms", HAM_GOLD)
    if live:
        lw.submit("sms", text_items([f"live {i}" for i in range(live)]))
    add_reviewers(lw, "sms", "alice", "carol", max_open_tasks=10)
    lw.ctx.random = AlwaysGold()


def is_gold(lw: Loopwise, entry: QueueEntry) -> bool:
    return bool(rows(lw, "honeypot", item_id=entry.item.id))


def answer(lw: Loopwise, reviewer: str, label: str) -> QueueEntry:
    entry = claimed(lw, reviewer)
    lw.submit_verdict("sms", entry.task.id, reviewer, Verdict.CORRECT, label=label)
    return entry


class TestServing:
    def test_gold_tasks_look_like_live_tasks_and_are_scored(self, lw: Loopwise) -> None:
        make_text_project(lw, routing=CONFIDENT_ROUTING, training=NO_HOLDOUT)
        seeded_model(lw)
        lw.add_gold_items("sms", [{"external_id": "g", "payload": "hello there", "label": "ham"}])
        lw.submit("sms", text_items(["hello", "hi you"]))
        add_reviewers(lw, "sms", "alice", max_open_tasks=5)
        labels, routes = len(rows(lw, "label")), lw.stats("sms").routes
        lw.set_review_config("sms", {"gold_rate": 0.5})
        lw.ctx.random = AlwaysGold()
        assert all(not is_gold(lw, e) for e in lw.queue("sms"))

        gold, live = claimed(lw, "alice"), claimed(lw, "alice")

        assert (is_gold(lw, gold), is_gold(lw, live)) == (True, False)
        assert gold.item.external_id == "g"
        for entry in (gold, live):
            assert entry.task.stage is Stage.REVIEW
            assert (entry.task.required_reviews, entry.task.escalated_from) == (1, None)
            assert entry.task.claimed_by == "alice"
            assert entry.prediction is not None
            assert entry.reasons
            assert entry.earlier_reviews == ()
        [claim] = [e for e in events(lw, "task.claimed") if e["entity_id"] == str(gold.task.id)]
        assert claim["actor"] == "alice"

        result = lw.submit_verdict("sms", gold.task.id, "alice", Verdict.CORRECT, label="ham")

        assert (result.resolved, result.final_label, result.label) == (True, "ham", None)
        assert one(lw, "review", task_id=gold.task.id)["gold_correct"] is True
        assert len(rows(lw, "label")) == labels
        assert (lw.stats("sms").routes, lw.stats("sms").labels) == (routes, labels)
        decision = one(lw, "decision", item_id=gold.item.id)
        assert (decision["origin"], decision["final_label"]) == ("gold", "ham")
        assert one(lw, "item", id=gold.item.id)["status"] == "resolved"
        assert "g" not in {row["external_id"] for row in lw.export_labels("sms")}
        assert all(not is_gold(lw, e) for e in lw.queue("sms"))

    def test_gold_rate_sets_the_share_of_claims(self, lw: Loopwise) -> None:
        make_text_project(lw, review={"gold_rate": 0.5})
        lw.add_gold_items("sms", [{**g, "external_id": f"x{g['external_id']}"} for g in HAM_GOLD])
        lw.add_gold_items("sms", [{**g, "external_id": f"y{g['external_id']}"} for g in HAM_GOLD])
        lw.submit("sms", text_items([f"live {i}" for i in range(40)]))
        add_reviewers(lw, "sms", "alice")
        lw.ctx.random.seed(11)
        served = []
        for _ in range(40):
            served.append(is_gold(lw, answer(lw, "alice", "ham")))

        assert 10 <= sum(served) <= 30
        assert sum(r["gold_correct"] is True for r in rows(lw, "review")) == sum(served)

        lw.set_review_config("sms", {"gold_rate": 0.0})
        lw.ctx.random = AlwaysGold()
        assert not is_gold(lw, answer(lw, "alice", "ham"))

    def test_each_gold_item_once_per_reviewer_then_live_work(self, lw: Loopwise) -> None:
        gold_project(lw, {"gold_rate": 0.5})
        seen = [answer(lw, "alice", "ham").item.external_id for _ in range(len(HAM_GOLD))]
        assert sorted(seen) == sorted(g["external_id"] for g in HAM_GOLD)

        entry = claimed(lw, "alice")

        assert (is_gold(lw, entry), entry.item.external_id) == (False, "item-0")
        assert is_gold(lw, claimed(lw, "carol"))  # carol has seen none yet

    def test_gold_is_never_served_alone(self, lw: Loopwise) -> None:
        gold_project(lw, {"gold_rate": 0.5}, live=0)
        assert lw.claim_next("sms", "alice") is None
        lw.submit("sms", text_items(["live"]))
        assert is_gold(lw, claimed(lw, "alice"))
        lw.set_review_config("sms", {"gold_rate": 0.0})
        assert not is_gold(lw, claimed(lw, "alice"))
        lw.set_review_config("sms", {"gold_rate": 0.5})

        assert lw.claim_next("sms", "carol") is None  # the one live task is held

    def test_gold_is_not_served_alone_to_a_reviewer_with_no_live_work(self, lw: Loopwise) -> None:
        review_project(lw, review={"gold_rate": 0.5})
        lw.add_gold_items("sms", HAM_GOLD[:3])
        add_reviewers(lw, "sms", "alice")
        lw.submit("sms", [meta_item("fraud", LEANING, fraud=True)])  # needs the fraud tag
        lw.ctx.random = AlwaysGold()

        entry = lw.claim_next("sms", "alice")

        assert entry is None

    def test_a_dropped_gold_task_is_withdrawn_not_queued(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        gold_project(lw, {"gold_rate": 0.5})
        released = claimed(lw, "alice")
        lw.release("sms", released.task.id, "alice")
        skipped = claimed(lw, "alice")
        lw.submit_verdict("sms", skipped.task.id, "alice", Verdict.SKIP)
        lapsed = claimed(lw, "alice")
        clock.advance(seconds=301)
        claimed(lw, "carol")  # expires alice's lease

        for entry in (released, skipped, lapsed):
            task = one(lw, "review_task", id=entry.task.id)
            assert (task["status"], task["claimed_by"]) == ("cancelled", None)
        assert [e.item.external_id for e in lw.queue("sms")] == ["item-0", "item-1"]
        assert [r["gold_correct"] for r in rows(lw, "review")] == [None]

    def test_bad_gold_items_are_refused(self, lw: Loopwise) -> None:
        make_text_project(lw)
        lw.add_gold_items("sms", HAM_GOLD[:1])
        with refused(lw, InvalidLabel, "items[0].label"):
            lw.add_gold_items("sms", [{"external_id": "n", "payload": "x", "label": "eggs"}])
        with refused(lw, InvalidInput, "items[0].label"):
            lw.add_gold_items("sms", [{"external_id": "n", "payload": "x"}])
        with refused(lw, DuplicateExternalId, "items[0].external_id"):
            lw.add_gold_items("sms", HAM_GOLD[:1])
        with refused(lw, InvalidInput, "items"):
            lw.add_gold_items("sms", [])


class TestReviewerQuality:
    def test_a_reviewer_who_fails_gold_is_flagged_on_evidence_only(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        gold_project(lw, {"gold_rate": 0.5, "gold_min_answers": 3, "gold_floor": 0.8})
        carol = one(lw, "reviewer", name="carol")
        for _ in range(2):
            answer(lw, "carol", "spam")
            answer(lw, "alice", "ham")
        assert events(lw, "reviewer.flagged") == []
        now = clock.advance(minutes=5)

        answer(lw, "carol", "spam")
        answer(lw, "alice", "ham")

        marks: dict[str, list[bool | None]] = {r["reviewer"]: [] for r in rows(lw, "review")}
        for r in rows(lw, "review"):
            marks[r["reviewer"]].append(r["gold_correct"])
        assert marks == {"carol": [False] * 3, "alice": [True] * 3}
        [flagged] = events(lw, "reviewer.flagged")
        assert (flagged["actor"], flagged["entity_type"], flagged["entity_id"]) == (
            "system",
            "reviewer",
            str(carol["id"]),
        )
        reason = "gold accuracy 0% (0/3; 95% interval 0%-56%) is below the floor 80%"
        assert flagged["after"] == {"reviewer": "carol", "reason": reason}
        members = {r["reviewer_id"]: r for r in rows(lw, "project_member")}
        assert (members[carol["id"]]["flagged_at"], members[carol["id"]]["flag_reason"]) == (
            now,
            reason,
        )
        alice = one(lw, "reviewer", name="alice")
        assert members[alice["id"]]["flagged_at"] is None

        for _ in range(2):  # 2 of 5 right: the interval (to 0.77) is still below 0.8
            answer(lw, "carol", "ham")
        assert events(lw, "reviewer.unflagged") == []
        answer(lw, "carol", "ham")  # 3 of 6: the interval reaches 0.81
        [cleared] = events(lw, "reviewer.unflagged")
        assert cleared["after"] == {"reviewer": "carol", "accuracy": 0.5}
        assert one(lw, "project_member", reviewer_id=carol["id"])["flagged_at"] is None
        assert len(events(lw, "reviewer.flagged")) == 1

    def test_undoing_the_answer_that_flagged_a_reviewer_clears_the_flag(self, lw: Loopwise) -> None:
        gold_project(lw, {"gold_rate": 0.5, "gold_min_answers": 3})
        for _ in range(3):
            answer(lw, "carol", "spam")
        carol = one(lw, "reviewer", name="carol")
        assert one(lw, "project_member", reviewer_id=carol["id"])["flagged_at"] is not None

        lw.undo("sms", "carol")

        assert len(rows(lw, "review")) == 2
        assert one(lw, "project_member", reviewer_id=carol["id"])["flagged_at"] is None

    @pytest.mark.parametrize("aggregator", ["dawid_skene", "majority_vote"])
    def test_gold_answers_weigh_reviewers_in_consensus(self, lw: Loopwise, aggregator: str) -> None:
        """Two reviewers split 1-1 on a live item. Between dave and frank, who have no gold
        record, that is a tie (ham, the first label); carol failed every gold item and alice
        passed them all, so alice's spam wins over carol's ham."""
        review = {"overlap": 2, "min_agreement": 0.5, "aggregator": aggregator}
        review_project(lw, review={**review, "gold_rate": 0.5})
        lw.add_gold_items("sms", HAM_GOLD[:6])
        add_reviewers(lw, "sms", "alice", "carol", "dave", "frank")
        lw.submit("sms", [meta_item("informed", LEANING), meta_item("blind", LEANING)])
        lw.ctx.random = AlwaysGold()
        for _ in range(6):
            assert is_gold(lw, answer(lw, "alice", "ham"))
            assert is_gold(lw, answer(lw, "carol", "spam"))
        lw.set_review_config("sms", review)
        pairs = [("alice", "spam"), ("carol", "ham"), ("dave", "spam"), ("frank", "ham")]
        for name, label in pairs:
            entry = claimed(lw, name)
            assert entry.item.external_id == ("informed" if name < "d" else "blind")
            lw.submit_verdict("sms", entry.task.id, name, Verdict.CORRECT, label=label)

        labels = {r["item_id"]: r for r in rows(lw, "label")}
        informed = labels[one(lw, "item", external_id="informed")["id"]]
        blind = labels[one(lw, "item", external_id="blind")["id"]]
        assert (informed["value"], informed["source"], informed["agreement"]) == (
            "spam",
            "consensus",
            0.5,
        )
        assert informed["weight"] > 0.9
        assert (blind["value"], blind["agreement"]) == ("ham", 0.5)
        assert blind["weight"] < informed["weight"]
