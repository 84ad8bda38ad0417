"""The whole loop through the ``Loopwise`` facade, and the invariant that no item is ever lost."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from loopwise import ItemStatus, Loopwise, Role, Route, Stage, TaskStatus, Verdict
from loopwise.errors import (
    Conflict,
    DuplicateExternalId,
    InvalidInput,
    LeaseExpired,
    NotEnoughLabels,
    NotTaskHolder,
)
from loopwise.testing import FrozenClock
from tests.factories import (
    CONFIDENT_ROUTING,
    HAM,
    NO_HOLDOUT,
    SPAM,
    add_reviewers,
    make_text_project,
    seed_rows,
    text_items,
)
from tests.integration.helpers import assert_no_item_lost, nothing_written, one, rows

TEXTS = [*HAM, *SPAM, "hello", "see you at lunch lar", "call me", "WIN WIN WIN"]
PEOPLE = {"ann": Role.REVIEWER, "bob": Role.REVIEWER, "cy": Role.REVIEWER, "eve": Role.EXPERT}
"""Who works in the machine: three reviewers and an expert who clears escalated tasks."""
MAX_OPEN = 1_000
"""The machine claims without answering; no one should hit their limit of open tasks."""


def test_the_loop_end_to_end(lw: Loopwise, clock: FrozenClock) -> None:
    make_text_project(lw, routing=CONFIDENT_ROUTING, training=NO_HOLDOUT)
    add_reviewers(lw, "sms", "alice", "bob", "carol")
    assert lw.import_labels("sms", seed_rows()) == 24
    first = lw.train("sms")
    assert lw.promote("sms").promoted
    clock.advance(seconds=60)

    routed = lw.submit("sms", text_items([SPAM[0], "hello", "see you at lunch lar"], "new"))

    assert [(r.route, r.status) for r in routed] == [
        (Route.AUTO, ItemStatus.DECIDED),
        (Route.HUMAN, ItemStatus.QUEUED),
        (Route.HUMAN, ItemStatus.QUEUED),
    ]
    for reviewer, label in (("alice", "ham"), ("bob", "ham")):
        entry = lw.claim_next("sms", reviewer)
        assert entry is not None
        assert lw.submit_verdict("sms", entry.task.id, reviewer, "correct", label=label).resolved
    assert lw.claim_next("sms", "carol") is None
    second = lw.train("sms")
    assert second.trained_on == first.trained_on + 2
    assert lw.promote("sms", force=True).forced
    production = lw.production_model("sms")
    assert production is not None
    assert production[0].version == 2
    stats = lw.stats("sms")
    assert (stats.items, stats.decided, stats.queued, stats.resolved) == (27, 1, 0, 26)
    assert stats.labels == 26
    assert_no_item_lost(
        lw, "sms", [r["external_id"] for r in seed_rows()] + ["new-0", "new-1", "new-2"]
    )
    actions = [e.action for e in lw.audit_events("sms")]
    assert actions.count("item.routed") == 3
    assert actions.count("item.resolved") == 26
    assert actions.count("model.trained") == 2
    assert actions.count("model.promoted") == 2


class Claim(NamedTuple):
    reviewer: str
    expires: datetime
    suggested: bool
    """The task came with a model suggestion (so ``approve`` is meaningful)."""
    expert: bool
    """An expert-stage task: its verdict is final and cannot be escalated."""


class LoopMachine(RuleBasedStateMachine):
    """Random use cases on one project; after every step no accepted item may be lost.

    The machine keeps a small model of what it expects (which items exist, who holds which task
    until when, which items carry which label) so that refusals are checked, not just caught.
    """

    def __init__(self, lw: Loopwise, clock: FrozenClock, project: str) -> None:
        super().__init__()
        self.lw, self.clock, self.project = lw, clock, project
        self.lease = timedelta(seconds=lw.settings.lease_seconds)
        self.accepted: dict[str, str] = {}
        self.labelled: dict[str, str] = {}
        self.claims: dict[int, Claim] = {}
        self.serial = 0

    def _next_id(self) -> str:
        self.serial += 1
        return f"x{self.serial}"

    @initialize()
    def create(self) -> None:
        make_text_project(self.lw, self.project, routing=CONFIDENT_ROUTING, training=NO_HOLDOUT)
        known = {r.name for r in self.lw.reviewers()}
        for name, role in PEOPLE.items():
            if name in known:
                self.lw.add_member(self.project, name)
            else:
                self.lw.add_reviewer(
                    name, role=role, projects=[self.project], max_open_tasks=MAX_OPEN
                )

    @rule(
        texts=st.lists(st.sampled_from(TEXTS), min_size=1, max_size=4),
        repeat=st.booleans(),
        clash=st.booleans(),
    )
    def submit(self, texts: list[str], repeat: bool, clash: bool) -> None:
        """A batch of new items, maybe with a known one again; maybe first a refused clash."""
        if clash and self.accepted:
            known = sorted(self.accepted)[-1]
            with nothing_written(self.lw, values=False), pytest.raises(DuplicateExternalId):
                self.lw.submit(self.project, [{"external_id": known, "payload": "changed"}])
        batch = [{"external_id": self._next_id(), "payload": t} for t in texts]
        if repeat and self.accepted:
            known = sorted(self.accepted)[0]
            batch.append({"external_id": known, "payload": self.accepted[known]})
        routed = self.lw.submit(self.project, batch)
        assert [r.external_id for r in routed] == [b["external_id"] for b in batch]
        assert [r.duplicate for r in routed] == [b["external_id"] in self.accepted for b in batch]
        for item in batch:
            self.accepted[str(item["external_id"])] = str(item["payload"])

    @rule(p=st.floats(min_value=0.02, max_value=0.98))
    def submit_scored(self, p: float) -> None:
        external_id = self._next_id()
        item = {"external_id": external_id, "payload": "scored", "probabilities": [p, 1 - p]}
        [routed] = self.lw.submit(self.project, [item])
        assert (routed.route is Route.AUTO) == (max(p, 1 - p) >= 0.75)
        self.accepted[external_id] = "scored"

    @rule(reviewer=st.sampled_from(sorted(PEOPLE)))
    def claim(self, reviewer: str) -> None:
        self._claim(reviewer)

    def _takeable(self, reviewer: str) -> set[int]:
        """Tasks ``reviewer`` may be handed now: open or under a lapsed lease, of a stage their
        role serves, on an item they have not reviewed (answered, skipped or escalated) at that
        stage: an expert may settle an item they saw as a reviewer."""
        now = self.clock.now()
        pid = self.lw.project(self.project).id
        stages = {Stage.REVIEW.value}
        if PEOPLE[reviewer] is not Role.REVIEWER:
            stages.add(Stage.EXPERT.value)
        seen = {
            (r["item_id"], r["stage"])
            for r in rows(self.lw, "review", project_id=pid, reviewer=reviewer)
        }
        return {
            t["id"]
            for t in rows(self.lw, "review_task", project_id=pid)
            if t["stage"] in stages
            and (t["item_id"], t["stage"]) not in seen
            and (
                t["status"] == TaskStatus.OPEN.value
                or (t["status"] == TaskStatus.CLAIMED.value and t["lease_expires_at"] <= now)
            )
        }

    def _claim(self, reviewer: str) -> int | None:
        """Claim the next task; check against the model whether there should have been one."""
        takeable = self._takeable(reviewer)
        entry = self.lw.claim_next(self.project, reviewer)
        now = self.clock.now()
        if entry is None:
            assert takeable == set()
            return None
        assert entry.task.id in takeable
        assert entry.task.claimed_by == reviewer
        previous = self.claims.get(entry.task.id)
        live = previous is not None and previous.expires >= now
        assert not live, "a task under a live lease was handed out"
        self.claims[entry.task.id] = Claim(
            reviewer,
            now + self.lease,
            entry.prediction is not None,
            entry.task.stage is Stage.EXPERT,
        )
        return entry.task.id

    @rule(reviewer=st.sampled_from(sorted(PEOPLE)), data=st.data())
    def claim_and_decide(self, reviewer: str, data: st.DataObject) -> None:
        """What reviewers mostly do: take the next task and give a verdict on it at once."""
        task_id = self._claim(reviewer)
        if task_id is not None and data.draw(st.integers(0, 3)) == 0:
            self.leases_lapse()
        if task_id is not None:
            self.give_verdict(
                data,
                data.draw(st.sampled_from(list(Verdict))),
                data.draw(st.sampled_from(["ham", "spam", None])),
                task_id=task_id,
            )

    def _lapsed(self, task_id: int) -> type[LeaseExpired | NotTaskHolder]:
        """The refusal of acting on a task whose lease lapsed: still held but expired, or,
        once a claim returned it to the queue, no longer held at all."""
        held = one(self.lw, "review_task", id=task_id)["status"] == TaskStatus.CLAIMED.value
        return LeaseExpired if held else NotTaskHolder

    @precondition(lambda self: bool(self.claims))
    @rule(
        data=st.data(),
        verdict=st.sampled_from(list(Verdict)),
        label=st.sampled_from(["ham", "spam", None]),
    )
    def give_verdict(
        self,
        data: st.DataObject,
        verdict: Verdict,
        label: str | None,
        task_id: int | None = None,
    ) -> None:
        if task_id is None:
            task_id = data.draw(st.sampled_from(sorted(self.claims)))
        reviewer, expires, suggested, expert = self.claims[task_id]
        if verdict is Verdict.CORRECT or (verdict is Verdict.APPROVE and not suggested):
            verdict, label = Verdict.CORRECT, label or "ham"
        if verdict is Verdict.APPROVE:
            label = None
        if self.clock.now() >= expires:
            with nothing_written(self.lw, values=False), pytest.raises(self._lapsed(task_id)):
                self.lw.submit_verdict(self.project, task_id, reviewer, verdict, label=label)
            return
        if verdict is Verdict.ESCALATE and expert:
            with nothing_written(self.lw, values=False), pytest.raises(InvalidInput):
                self.lw.submit_verdict(self.project, task_id, reviewer, verdict, label=label)
            return
        result = self.lw.submit_verdict(self.project, task_id, reviewer, verdict, label=label)
        del self.claims[task_id]
        task = one(self.lw, "review_task", id=task_id)
        item = one(self.lw, "item", id=task["item_id"])
        if verdict.answers:
            assert (result.resolved, result.escalated) == (True, False)
            assert (item["status"], task["status"]) == ("resolved", "done")
            if result.final_label is not None:
                self.labelled[item["external_id"]] = result.final_label
            return
        assert not result.resolved
        assert item["status"] == "queued"
        if result.escalated:
            assert verdict is Verdict.ESCALATE or verdict is Verdict.SKIP
            assert not expert
            assert task["status"] == "escalated"
            handed_on = one(self.lw, "review_task", escalated_from=task_id)
            assert (handed_on["stage"], handed_on["status"]) == ("expert", "open")
        else:
            assert verdict is Verdict.SKIP
            assert (task["status"], task["claimed_by"]) == ("open", None)

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.claims)))
        reviewer, expires, _, _ = self.claims[task_id]
        if self.clock.now() >= expires:
            with nothing_written(self.lw, values=False), pytest.raises(self._lapsed(task_id)):
                self.lw.release(self.project, task_id, reviewer)
            return
        self.lw.release(self.project, task_id, reviewer)
        del self.claims[task_id]

    @rule()
    def leases_lapse(self) -> None:
        self.clock.advance(seconds=self.lw.settings.lease_seconds + 1)

    @rule(data=st.data(), n_known=st.integers(0, 3), n_new=st.integers(0, 2))
    def import_labels(self, data: st.DataObject, n_known: int, n_new: int) -> None:
        known = sorted(self.accepted)
        picked = data.draw(
            st.lists(st.sampled_from(known), max_size=min(n_known, len(known)), unique=True)
            if known
            else st.just([])
        )
        batch = [
            {
                "external_id": e,
                "payload": self.accepted[e],
                "label": data.draw(st.sampled_from(["ham", "spam"])),
            }
            for e in picked
        ]
        batch += [
            {
                "external_id": self._next_id(),
                "payload": data.draw(st.sampled_from(TEXTS)),
                "label": label,
            }
            for label in data.draw(
                st.lists(st.sampled_from(["ham", "spam"]), min_size=n_new, max_size=n_new)
            )
        ]
        if not batch:
            return
        if data.draw(st.booleans()):
            batch.append(dict(batch[0]))
        clash = any(self.labelled.get(r["external_id"], r["label"]) != r["label"] for r in batch)
        if clash:
            with nothing_written(self.lw, values=False), pytest.raises(Conflict):
                self.lw.import_labels(self.project, batch)
            return
        resolved = self.lw.import_labels(self.project, batch)
        assert resolved == len({r["external_id"] for r in batch} - set(self.labelled))
        for r in batch:
            self.accepted[r["external_id"]] = r["payload"]
            self.labelled[r["external_id"]] = r["label"]
        self.claims = {
            t: c
            for t, c in self.claims.items()
            if one(self.lw, "review_task", id=t)["status"] == "claimed"
        }

    @rule()
    def train_and_promote(self) -> None:
        if len(set(self.labelled.values())) < 2:
            with nothing_written(self.lw, values=False), pytest.raises(NotEnoughLabels):
                self.lw.train(self.project)
            return
        candidate = self.lw.train(self.project)
        assert candidate.trained_on == len(self.labelled)
        assert self.lw.promote(self.project, force=True).promoted

    @invariant()
    def no_item_is_lost(self) -> None:
        assert_no_item_lost(self.lw, self.project, self.accepted)


def machine_on(lw: Loopwise, clock: FrozenClock) -> type[LoopMachine]:
    """``LoopMachine`` bound to this test's database; each run gets a project of its own."""
    runs = iter(range(1_000))

    class OnThisDatabase(LoopMachine):
        def __init__(self) -> None:
            super().__init__(lw, clock, f"loop-{next(runs)}")

    return OnThisDatabase


def test_no_accepted_item_is_ever_lost(lw: Loopwise, clock: FrozenClock) -> None:
    run_state_machine_as_test(
        machine_on(lw, clock),
        settings=settings(
            max_examples=10,
            stateful_step_count=30,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
