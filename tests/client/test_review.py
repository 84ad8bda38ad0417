"""The review queue against the real service: claim (with its key), renew, release (by task or
by claim key), judge, undo."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from loopwise.client import Client, QueueEntry
from loopwise.core.enums import ItemStatus, Priority, Stage, TaskStatus, Verdict
from loopwise.errors import Conflict, InvalidLabel, NotAllowed, NotTaskHolder
from loopwise.store.tables import ReviewTaskRow
from tests.client.conftest import Connect, Space, World, api
from tests.factories import meta_item


def claimed(reviewer: Client, project: str) -> QueueEntry:
    entry = reviewer.claim(project)
    assert entry is not None
    return entry


@pytest.fixture
def queued(connect: Connect, space: Space) -> list[int]:
    """Two queued items, ``q-0`` and ``q-1``; their tickets."""
    client = connect("client")
    first = client.submit(space.name, meta_item("q-0"))
    second = client.submit(space.name, meta_item("q-1"))
    assert first.ticket is not None
    assert second.ticket is not None
    return [first.ticket, second.ticket]


def test_the_queue_shows_what_waits(connect: Connect, space: Space, queued: list[int]) -> None:
    entries = connect("viewer").queue(space.name)
    assert sorted(e.task.id for e in entries) == sorted(queued)
    entry = next(e for e in entries if e.item.external_id == "q-1")
    assert entry.task.status is TaskStatus.OPEN
    assert entry.task.stage is Stage.REVIEW
    assert entry.task.priority is Priority.NORMAL
    assert entry.item.payload == {"text": "message q-1"}
    assert entry.prediction is not None
    assert entry.prediction.probabilities == (0.5, 0.5)
    assert entry.earlier_reviews == ()
    assert connect("viewer").queue(space.name, stage="expert") == []
    assert len(connect("viewer").queue(space.name, limit=1, offset=1)) == 1


def test_claim_renew_release_judge_and_undo(
    connect: Connect, space: Space, queued: list[int]
) -> None:
    reviewer = connect("reviewer")
    entry = claimed(reviewer, space.name)
    assert entry.task.claimed_by == space.account("reviewer")
    assert entry.task.status is TaskStatus.CLAIMED
    assert entry.task.lease_expires_at is not None

    expires = reviewer.heartbeat(space.name, entry.task.id)
    assert isinstance(expires, datetime)
    assert expires >= entry.task.lease_expires_at

    assert [e.task.id for e in reviewer.held(space.name)] == [entry.task.id]
    reviewer.release(space.name, entry.task.id)
    assert reviewer.held(space.name) == []
    entry = claimed(reviewer, space.name)
    result = reviewer.verdict(
        space.name,
        entry.task.id,
        Verdict.CORRECT,
        label="spam",
        error_category="ambiguous_input",
        comment="a prize",
    )
    assert result.resolved
    assert result.final_label == "spam"
    assert not result.escalated
    assert not result.break_suggested
    assert (result.review.verdict, result.review.label, result.review.comment) == (
        Verdict.CORRECT,
        "spam",
        "a prize",
    )
    decision = connect("client").decision(space.name, entry.item.external_id)
    assert (decision.status, decision.label) == (ItemStatus.RESOLVED, "spam")

    undone = reviewer.undo(space.name)
    assert undone.id == result.review.id
    assert connect("client").decision(space.name, entry.item.external_id).status is (
        ItemStatus.QUEUED
    )


def test_claim_is_none_when_nothing_is_left(
    connect: Connect, space: Space, queued: list[int]
) -> None:
    reviewer = connect("reviewer")
    for _ in queued:
        entry = claimed(reviewer, space.name)
        reviewer.verdict(space.name, entry.task.id, "approve")
    assert reviewer.claim(space.name) is None
    assert reviewer.claim(space.name, stage=Stage.REVIEW) is None


def test_only_the_holder_may_judge(connect: Connect, space: Space, queued: list[int]) -> None:
    entry = claimed(connect("reviewer"), space.name)
    with pytest.raises(NotTaskHolder) as caught:
        connect("expert").verdict(space.name, entry.task.id, "approve")
    assert isinstance(caught.value, Conflict)
    assert api(caught.value).status == 409


def test_a_label_outside_the_project_is_invalid(
    connect: Connect, space: Space, queued: list[int]
) -> None:
    reviewer = connect("reviewer")
    entry = claimed(reviewer, space.name)
    with pytest.raises(InvalidLabel) as caught:
        reviewer.verdict(space.name, entry.task.id, "correct", label="eggs")
    assert api(caught.value).status == 422
    assert caught.value.field == "label"


def test_claims_carry_a_key_their_tasks_keep_and_keys_given_back_first_take_nothing(
    connect: Connect, world: World, space: Space, queued: list[int]
) -> None:
    reviewer = connect("reviewer")
    entry = claimed(reviewer, space.name)
    stored = world.scalars(select(ReviewTaskRow.claim_key).where(ReviewTaskRow.id == entry.task.id))
    assert len(stored) == 1
    assert stored[0] is not None
    assert len(stored[0]) == 32
    assert reviewer.release_claims(space.name, [stored[0]]) == 1
    assert reviewer.held(space.name) == []
    key = "k" * 32
    assert reviewer.release_claims(space.name, [key]) == 0
    assert world.lw.claim_next(space.name, space.account("reviewer"), claim_key=key) is None


def test_clients_may_not_claim(connect: Connect, space: Space, queued: list[int]) -> None:
    with pytest.raises(NotAllowed) as caught:
        connect("client").claim(space.name)
    assert api(caught.value).status == 403
