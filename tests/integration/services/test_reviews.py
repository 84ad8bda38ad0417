"""People reviewing: the queue, claims under a lease, release, verdicts and what they resolve."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from loopwise import (
    ItemStatus,
    LabelSource,
    Loopwise,
    Priority,
    QueueEntry,
    Route,
    RoutingConfig,
    Settings,
    Stage,
    TaskStatus,
    TrainingConfig,
    Verdict,
)
from loopwise.errors import (
    InvalidInput,
    InvalidLabel,
    LeaseExpired,
    NotAllowed,
    NotTaskHolder,
    ProjectNotFound,
    TaskNotFound,
)
from loopwise.services import reviews
from loopwise.services.resolution import unit_hash
from loopwise.store import writes
from loopwise.store.tables import ReviewTaskRow
from loopwise.testing import FrozenClock
from tests.factories import NO_HOLDOUT, add_reviewers, make_text_project, scored_item, text_items
from tests.integration.helpers import nothing_written, one, refused, rows

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=300)
SPAMMY = [0.3, 0.7]
"""A prediction of ``spam`` at confidence 0.7: below the 0.9 threshold, so it is queued."""


def claim(lw: Loopwise, reviewer: str, project: str = "sms") -> QueueEntry:
    entry = lw.claim_next(project, reviewer)
    assert entry is not None, f"{reviewer} found nothing to claim"
    return entry


def queued_project(lw: Loopwise, n: int, probabilities: list[float] = SPAMMY) -> list[int]:
    """A binary project (no holdout, no golden share) with ``n`` queued items, and the
    reviewers alice and bob; their task ids."""
    make_text_project(lw, training=NO_HOLDOUT)
    add_reviewers(lw, "sms", "alice", "bob")
    routed = lw.submit(
        "sms", [scored_item(f"q-{i}", f"message {i}", probabilities) for i in range(n)]
    )
    return [r.task_id for r in routed if r.task_id is not None]


class TestQueue:
    def test_served_by_priority_then_uncertainty_then_age(self, lw: Loopwise) -> None:
        make_text_project(lw)
        add_reviewers(lw, "sms", "alice", "bob")
        routed = lw.submit(
            "sms",
            [
                scored_item("sure-ish", "a", [0.8, 0.2]),
                scored_item("coin-1", "b", [0.5, 0.5]),
                scored_item("leaning", "c", [0.35, 0.65]),
                scored_item("coin-2", "d", [0.5, 0.5]),
            ],
        )
        task = {r.external_id: r.task_id for r in routed}
        expected = [task["coin-1"], task["coin-2"], task["leaning"], task["sure-ish"]]

        queue = lw.queue("sms")

        assert [e.task.id for e in queue] == expected
        assert [e.item.external_id for e in queue] == ["coin-1", "coin-2", "leaning", "sure-ish"]
        assert queue[2].prediction is not None
        assert queue[2].prediction.probabilities == (0.35, 0.65)
        assert queue[2].reasons == ("confidence 0.650 below threshold 0.900",)
        assert [e.task.id for e in lw.queue("sms", limit=2, offset=1)] == expected[1:3]
        first = claim(lw, "alice")
        assert first.task.id == expected[0]
        assert [(e.task.id, e.task.status) for e in lw.queue("sms")] == [
            (expected[0], TaskStatus.CLAIMED),
            *((t, TaskStatus.OPEN) for t in expected[1:]),
        ]
        with refused(lw, InvalidInput, "limit"):
            lw.queue("sms", limit=0)
        lw.submit_verdict("sms", first.task.id, "alice", Verdict.APPROVE)
        assert [e.task.id for e in lw.queue("sms")] == expected[1:]

        # No routing rule raises priority yet; set it in the store to see it served first.
        with lw.ctx.engine.begin() as conn:
            conn.execute(
                update(ReviewTaskRow)
                .where(ReviewTaskRow.id == task["sure-ish"])
                .values(priority=int(Priority.URGENT))
            )
        assert [e.task.id for e in lw.queue("sms")] == [task["sure-ish"], *expected[1:3]]
        assert claim(lw, "bob").task.id == task["sure-ish"]


class TestClaim:
    def test_claim_takes_the_best_task_under_a_lease(self, lw: Loopwise) -> None:
        tasks = queued_project(lw, 2)

        entry = claim(lw, "alice")

        assert entry.task.id == tasks[0]
        assert (entry.task.status, entry.task.claimed_by, entry.task.lease_expires_at) == (
            TaskStatus.CLAIMED,
            "alice",
            NOW + LEASE,
        )
        assert entry.item.external_id == "q-0"
        row = one(lw, "review_task", id=tasks[0])
        assert (row["status"], row["claimed_by"], row["claimed_at"], row["lease_expires_at"]) == (
            "claimed",
            "alice",
            NOW,
            NOW + LEASE,
        )
        event = lw.audit_events("sms")[-1]
        assert (event.actor, event.action, event.entity_type, event.entity_id) == (
            "alice",
            "task.claimed",
            "review_task",
            str(tasks[0]),
        )
        assert event.after == {"lease_expires_at": (NOW + LEASE).isoformat()}
        assert claim(lw, "bob").task.id == tasks[1]
        add_reviewers(lw, "sms", "carol")
        add_reviewers(lw, "sms", "erin", role="expert")
        with nothing_written(lw):
            assert lw.claim_next("sms", "carol") is None
            assert lw.claim_next("sms", "erin", stage=Stage.EXPERT) is None
        with refused(lw, NotAllowed, "stage"):
            lw.claim_next("sms", "alice", stage=Stage.EXPERT)

    def test_a_lapsed_lease_makes_the_task_claimable_again(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        [task] = queued_project(lw, 1)
        claim(lw, "alice")
        clock.advance(seconds=299)
        assert lw.claim_next("sms", "bob") is None

        clock.advance(seconds=2)
        entry = claim(lw, "bob")

        assert entry.task.id == task
        assert (entry.task.claimed_by, entry.task.lease_expires_at) == (
            "bob",
            NOW + timedelta(seconds=301) + LEASE,
        )
        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)

    def test_a_settings_change_applies_to_the_next_claim_in_every_process(
        self, lw: Loopwise, settings: Settings, clock: FrozenClock
    ) -> None:
        """Claims keep the parsed project between calls; a change committed anywhere (here by
        a second ``Loopwise`` on the same database, as another worker would) is seen at once."""
        queued_project(lw, 3)
        assert claim(lw, "alice").task.lease_expires_at == NOW + LEASE
        other = Loopwise(settings, clock=clock)
        try:
            other.set_review_config("sms", {"lease_seconds": 60})
        finally:
            other.close()

        assert claim(lw, "alice").task.lease_expires_at == NOW + timedelta(seconds=60)
        lw.set_review_config("sms", {"lease_seconds": 90})
        assert claim(lw, "bob").task.lease_expires_at == NOW + timedelta(seconds=90)
        assert one(lw, "project")["revision"] == 3

    def test_very_unsure_items_go_to_the_expert_stage(self, lw: Loopwise) -> None:
        make_text_project(lw, routing=RoutingConfig(expert_threshold=0.6))
        add_reviewers(lw, "sms", "alice")
        add_reviewers(lw, "sms", "erin", role="expert")
        [routed] = lw.submit("sms", [scored_item("e", "??", [0.55, 0.45])])

        assert (routed.route, routed.status) == (Route.EXPERT, ItemStatus.QUEUED)
        assert routed.reasons == (
            "confidence 0.550 below threshold 0.900",
            "confidence 0.550 below expert threshold 0.600",
        )
        assert one(lw, "review_task")["stage"] == "expert"
        assert lw.queue("sms", stage=Stage.REVIEW) == []
        assert [e.task.id for e in lw.queue("sms", stage=Stage.EXPERT)] == [routed.task_id]
        assert lw.claim_next("sms", "alice") is None
        entry = lw.claim_next("sms", "erin", stage=Stage.EXPERT)
        assert entry is not None
        assert entry.task.id == routed.task_id
        result = lw.submit_verdict("sms", entry.task.id, "erin", Verdict.CORRECT, label="spam")
        assert result.label is not None
        assert result.label.source is LabelSource.EXPERT


class TestRelease:
    def test_release_puts_the_task_back_in_the_queue(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        [task] = queued_project(lw, 1)
        claim(lw, "alice")
        clock.advance(seconds=30)

        lw.release("sms", task, "alice")

        row = one(lw, "review_task", id=task)
        assert (row["status"], row["claimed_by"], row["lease_expires_at"]) == ("open", None, None)
        event = lw.audit_events("sms")[-1]
        assert (event.actor, event.action, event.entity_id, event.before, event.after) == (
            "alice",
            "task.released",
            str(task),
            None,
            None,
        )
        assert claim(lw, "bob").task.id == task

    def test_release_is_only_for_the_holder_within_the_lease(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        [task] = queued_project(lw, 1)
        with refused(lw, NotTaskHolder, "task_id"):
            lw.release("sms", task, "alice")
        claim(lw, "alice")
        with refused(lw, NotTaskHolder, "task_id"):
            lw.release("sms", task, "bob")
        clock.advance(seconds=300)
        with refused(lw, LeaseExpired, "task_id"):
            lw.release("sms", task, "alice")


VERDICTS: list[tuple[Verdict, str | None, str, str | None]] = [
    # verdict, label given, label meant, error category
    (Verdict.APPROVE, None, "spam", None),
    (Verdict.CORRECT, "ham", "ham", "ambiguous_input"),
    (Verdict.REJECT, None, "ham", "model_bias"),
    (Verdict.REJECT, "ham", "ham", None),
]


class TestVerdict:
    def test_each_verdict_resolves_the_item_with_the_label_it_means(
        self, lw: Loopwise, clock: FrozenClock, subtests: pytest.Subtests
    ) -> None:
        tasks = queued_project(lw, len(VERDICTS))
        pid = lw.project("sms").id
        for position, (task_id, (verdict, given, meant, category)) in enumerate(
            zip(tasks, VERDICTS, strict=True), start=1
        ):
            with subtests.test(verdict=verdict.value, label=given):
                entry = claim(lw, "alice")
                assert entry.task.id == task_id
                claimed_at = clock.now()
                now = clock.advance(seconds=10)

                result = lw.submit_verdict(
                    "sms",
                    task_id,
                    "alice",
                    verdict,
                    label=given,
                    error_category=category,
                    comment="checked",
                )

                item_id = entry.item.id
                review = one(lw, "review", task_id=task_id)
                assert review == {
                    "id": result.review.id,
                    "project_id": pid,
                    "task_id": task_id,
                    "item_id": item_id,
                    "reviewer": "alice",
                    "verdict": verdict.value,
                    "label": meant,
                    "error_category": category,
                    "comment": "checked",
                    "stage": "review",
                    "gold_correct": None,
                    "session_position": position,
                    "created_at": now,
                }
                label = one(lw, "label", item_id=item_id)
                assert label == {
                    "id": label["id"],
                    "project_id": pid,
                    "item_id": item_id,
                    "value": meant,
                    "source": "reviewer",
                    "split": "train",
                    "weight": 1.0,
                    "agreement": None,  # one person: no agreement to measure
                    "review_task_id": task_id,
                    "created_by": "alice",
                    "created_at": now,
                }
                decision = one(lw, "decision", item_id=item_id)
                assert (decision["route"], decision["final_label"], decision["decided_by"]) == (
                    "human",
                    meant,
                    "alice",
                )
                assert (decision["decided_at"], decision["prediction_id"]) == (
                    now,
                    one(lw, "prediction", item_id=item_id)["id"],
                )
                item = one(lw, "item", id=item_id)
                assert (item["status"], item["updated_at"]) == ("resolved", now)
                task = one(lw, "review_task", id=task_id)
                assert (task["status"], task["claimed_by"], task["claimed_at"]) == (
                    "done",
                    "alice",
                    claimed_at,
                )
                assert (task["resolved_at"], task["lease_expires_at"]) == (now, None)
                assert rows(lw, "golden_item") == []
                assert (result.resolved, result.final_label) == (True, meant)
                assert result.label is not None
                assert (result.label.value, result.label.source) == (meant, LabelSource.REVIEWER)
                assert reviews.reviews_of_item(lw.ctx, item_id) == [result.review]
                assert result.review.verdict is verdict
                submitted, resolved = lw.audit_events("sms")[-2:]
                assert (submitted.action, submitted.entity_id, submitted.actor) == (
                    "review.submitted",
                    str(task_id),
                    "alice",
                )
                assert submitted.after == {
                    "review_id": result.review.id,
                    "verdict": verdict.value,
                    "label": meant,
                    "error_category": category,
                    "suggestion": "spam",
                }
                assert (resolved.action, resolved.entity_type, resolved.entity_id) == (
                    "item.resolved",
                    "item",
                    str(item_id),
                )
                assert resolved.before == {"final_label": None, "route": "human"}
                assert resolved.after is not None
                assert resolved.after == {
                    "final_label": meant,
                    "source": "reviewer",
                    "agreement": None,
                    "task_id": task_id,
                    "predicted_label": "spam",
                }

    def test_a_lone_reviewers_label_has_no_agreement_figure(self, lw: Loopwise) -> None:
        """Agreement is measured between people; with one answer there is none (not 1.0)."""
        [task] = queued_project(lw, 1)
        claim(lw, "alice")

        result = lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)

        assert result.label is not None
        assert result.label.agreement is None
        assert one(lw, "label")["agreement"] is None
        resolved = lw.audit_events("sms")[-1]
        assert resolved.action == "item.resolved"
        assert resolved.after is not None
        assert resolved.after["agreement"] is None
        [exported] = lw.export_labels("sms")
        assert exported["agreement"] is None

    def test_reject_without_label_on_a_larger_label_set_is_undecidable(self, lw: Loopwise) -> None:
        lw.create_project("news", ["sport", "politics", "arts"])
        add_reviewers(lw, "news", "alice")
        [routed] = lw.submit("news", [scored_item("n", "a match report?", [0.5, 0.3, 0.2])])
        entry = claim(lw, "alice", project="news")

        result = lw.submit_verdict("news", entry.task.id, "alice", Verdict.REJECT)

        assert (result.resolved, result.label, result.final_label) == (True, None, None)
        assert result.review.label is None
        assert rows(lw, "label") == []
        decision = one(lw, "decision", item_id=routed.item_id)
        assert (decision["final_label"], decision["decided_by"]) == (None, "alice")
        assert one(lw, "item", id=routed.item_id)["status"] == "resolved"
        assert one(lw, "review_task")["status"] == "done"
        resolved = lw.audit_events("news")[-1]
        assert resolved.action == "item.resolved"
        assert resolved.after is not None
        assert resolved.after["final_label"] is None

    def test_a_correction_of_the_model_can_join_the_golden_set(self, lw: Loopwise) -> None:
        project = make_text_project(lw, training=TrainingConfig(golden_share=0.99))
        add_reviewers(lw, "sms", "alice")
        assert unit_hash(project.id, "g", "golden") < 0.99
        [routed] = lw.submit("sms", [scored_item("g", "call now", SPAMMY)])
        entry = claim(lw, "alice")

        lw.submit_verdict("sms", entry.task.id, "alice", Verdict.CORRECT, label="ham")

        golden = one(lw, "golden_item")
        assert (golden["item_id"], golden["label"], golden["reason"]) == (
            routed.item_id,
            "ham",
            "model predicted 'spam'; reviewer said 'ham'",
        )

    def test_approve_needs_a_model_suggestion(self, lw: Loopwise) -> None:
        make_text_project(lw)
        add_reviewers(lw, "sms", "alice")
        lw.submit("sms", text_items(["no model"]))
        entry = claim(lw, "alice")

        with refused(lw, InvalidInput, "verdict"):
            lw.submit_verdict("sms", entry.task.id, "alice", Verdict.APPROVE)
        result = lw.submit_verdict("sms", entry.task.id, "alice", Verdict.CORRECT, label="ham")
        assert (result.final_label, result.review.label) == ("ham", "ham")


class TestVerdictRefusals:
    def test_bad_verdict_input(self, lw: Loopwise, subtests: pytest.Subtests) -> None:
        [task] = queued_project(lw, 1)
        claim(lw, "alice")
        cases: list[tuple[dict[str, Any], type[InvalidInput], str]] = [
            ({"verdict": Verdict.CORRECT, "label": "eggs"}, InvalidLabel, "label"),
            ({"verdict": Verdict.REJECT, "label": "HAM"}, InvalidLabel, "label"),
            ({"verdict": Verdict.CORRECT}, InvalidInput, "label"),
            ({"verdict": "maybe"}, InvalidInput, "verdict"),
            (
                {"verdict": Verdict.CORRECT, "label": "ham", "error_category": "typo"},
                InvalidInput,
                "error_category",
            ),
            ({"verdict": Verdict.APPROVE, "comment": "x" * 5001}, InvalidInput, "comment"),
            ({"verdict": Verdict.APPROVE, "reviewer": " "}, InvalidInput, "reviewer"),
        ]
        for kwargs, error, field in cases:
            reviewer = kwargs.pop("reviewer", "alice")
            verdict = kwargs.pop("verdict")
            with subtests.test(field=field, kwargs=kwargs), refused(lw, error, field):
                lw.submit_verdict("sms", task, reviewer, verdict, **kwargs)
        assert one(lw, "review_task", id=task)["status"] == "claimed"

    def test_verdict_on_a_task_one_does_not_hold(self, lw: Loopwise) -> None:
        first, second = queued_project(lw, 2)
        claim(lw, "alice")

        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", first, "bob", Verdict.APPROVE)
        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", second, "alice", Verdict.APPROVE)
        with refused(lw, TaskNotFound, "task_id"):
            lw.submit_verdict("sms", 10_000, "alice", Verdict.APPROVE)
        with refused(lw, ProjectNotFound, "project"):
            lw.submit_verdict("nope", first, "alice", Verdict.APPROVE)
        lw.create_project("other", ["a", "b"])
        lw.add_member("other", "alice")
        with refused(lw, TaskNotFound, "task_id"):
            lw.submit_verdict("other", first, "alice", Verdict.APPROVE)

    def test_verdict_after_the_lease_expired(self, lw: Loopwise, clock: FrozenClock) -> None:
        [task] = queued_project(lw, 1)
        claim(lw, "alice")
        clock.advance(seconds=300 + 1)

        with refused(lw, LeaseExpired, "task_id"):
            lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)

        assert one(lw, "item")["status"] == "queued"

    def test_a_second_verdict_on_the_same_task(self, lw: Loopwise) -> None:
        [task] = queued_project(lw, 1)
        claim(lw, "alice")
        lw.submit_verdict("sms", task, "alice", Verdict.APPROVE)

        with refused(lw, NotTaskHolder, "task_id"):
            lw.submit_verdict("sms", task, "alice", Verdict.CORRECT, label="ham")
        assert one(lw, "label")["value"] == "spam"
        assert len(rows(lw, "review")) == 1


class TestCrash:
    def test_a_crash_while_resolving_leaves_no_half_written_verdict(
        self, lw: Loopwise, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A lone reviewer's answer writes its rows in one go (``store.writes.write``)."""
        [task] = queued_project(lw, 1)
        claim(lw, "alice")
        clock.advance(seconds=10)
        real = writes.write
        calls: list[int] = []

        def write_then_crash(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)
            calls.append(1)
            raise RuntimeError("power cut")

        monkeypatch.setattr(writes, "write", write_then_crash)
        with nothing_written(lw), pytest.raises(RuntimeError, match="power cut"):
            lw.submit_verdict("sms", task, "alice", Verdict.CORRECT, label="ham")

        assert calls == [1]
        assert one(lw, "item")["status"] == ItemStatus.QUEUED.value
        assert one(lw, "review_task")["claimed_by"] == "alice"
        monkeypatch.undo()
        result = lw.submit_verdict("sms", task, "alice", Verdict.CORRECT, label="ham")
        assert result.final_label == "ham"
        assert len(rows(lw, "review")) == 1

    def test_a_crash_while_settling_a_consensus_leaves_no_half_written_verdict(
        self, lw: Loopwise, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        [task] = queued_project(lw, 1)
        lw.set_review_config("sms", {"overlap": 2})
        with lw.ctx.engine.begin() as connection:
            connection.execute(update(ReviewTaskRow).values(required_reviews=2))
        claim(lw, "alice")
        lw.submit_verdict("sms", task, "alice", Verdict.CORRECT, label="ham")
        claim(lw, "bob")
        real = writes.write
        calls: list[int] = []

        def write_then_crash(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)
            calls.append(1)
            raise RuntimeError("power cut")

        monkeypatch.setattr(writes, "write", write_then_crash)
        with nothing_written(lw), pytest.raises(RuntimeError, match="power cut"):
            lw.submit_verdict("sms", task, "bob", Verdict.CORRECT, label="ham")

        assert calls == [1]
        assert one(lw, "item")["status"] == ItemStatus.QUEUED.value
        assert one(lw, "review_task")["claimed_by"] == "bob"
        monkeypatch.undo()
        result = lw.submit_verdict("sms", task, "bob", Verdict.CORRECT, label="ham")
        assert result.final_label == "ham"
        assert result.label is not None
        assert result.label.source is LabelSource.CONSENSUS
        assert len(rows(lw, "review")) == 2


class TestConcurrency:
    def test_four_reviewers_claiming_at_once_never_share_a_task(self, lw: Loopwise) -> None:
        make_text_project(lw)
        routed = lw.submit("sms", text_items([f"message {i}" for i in range(40)]))
        tasks = sorted(r.task_id for r in routed if r.task_id is not None)
        assert len(tasks) == 40
        start = threading.Barrier(4)

        def drain(reviewer: str) -> list[int]:
            start.wait()
            taken = []
            while (entry := lw.claim_next("sms", reviewer)) is not None:
                assert entry.task.claimed_by == reviewer
                taken.append(entry.task.id)
            return taken

        reviewers = [f"reviewer-{i}" for i in range(4)]
        add_reviewers(lw, "sms", *reviewers, max_open_tasks=len(tasks) + 1)
        with ThreadPoolExecutor(max_workers=4) as pool:
            taken = dict(zip(reviewers, pool.map(drain, reviewers), strict=True))

        claimed = [t for ids in taken.values() for t in ids]
        assert sorted(claimed) == tasks
        holders = {r["id"]: r["claimed_by"] for r in rows(lw, "review_task")}
        assert holders == {t: r for r, ids in taken.items() for t in ids}
        claims = [e for e in lw.audit_events("sms") if e.action == "task.claimed"]
        assert sorted((e.actor, int(e.entity_id)) for e in claims) == sorted(
            (r, t) for r, ids in taken.items() for t in ids
        )
