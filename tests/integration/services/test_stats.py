"""A project's operating numbers, read back after a known sequence of use cases."""

from __future__ import annotations

import pytest

from loopwise import Loopwise, Verdict
from loopwise.errors import ProjectNotFound
from loopwise.services.stats import ProjectStats
from tests.factories import (
    NO_HOLDOUT,
    add_reviewers,
    make_text_project,
    scored_item,
    seed_rows,
    text_items,
)
from tests.integration.helpers import nothing_written, refused


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
    )
    assert empty.automation_rate == 0.0
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

    assert stats == ProjectStats(
        items=8,
        decided=3,
        queued=1,
        resolved=4,
        routes={"auto": 3, "human": 3},
        open_tasks=1,
        labels=4,
        human_ai_agreement=0.5,
    )
    assert stats.automation_rate == 0.5

    lw.import_labels("sms", [{"external_id": "auto-2", "payload": "b", "label": "spam"}])

    after = lw.stats("sms")
    assert (after.decided, after.resolved, after.labels) == (2, 5, 5)
    assert after.routes == {"auto": 3, "human": 3}
    assert after.human_ai_agreement == pytest.approx(2 / 3)


def test_items_queued_before_any_model_count_as_routed_to_people(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.submit("sms", text_items(["a", "b", "c"]))
    lw.submit("sms", [scored_item("sure", "d", [0.99, 0.01])])

    stats = lw.stats("sms")

    assert stats.routes == {"human": 3, "auto": 1}
    assert stats.automation_rate == 0.25
