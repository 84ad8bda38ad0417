"""The audit trail: append-only in the database itself, and readable by project and entity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from loopwise import Loopwise
from loopwise.store.tables import AuditEventRow
from loopwise.testing import FrozenClock
from tests.factories import make_text_project, text_items
from tests.integration.helpers import nothing_written, rows

TAMPERING = [
    "UPDATE audit_event SET actor = 'mallory'",
    "UPDATE audit_event SET after = NULL WHERE action = 'project.created'",
    "DELETE FROM audit_event",
    "DELETE FROM audit_event WHERE id = (SELECT MAX(id) FROM audit_event)",
]


def test_the_audit_trail_is_append_only_in_the_database(
    lw: Loopwise, subtests: pytest.Subtests
) -> None:
    make_text_project(lw)
    lw.submit("sms", text_items(["hello"]))
    noted_at = datetime(2026, 2, 1, tzinfo=UTC)

    for statement in TAMPERING:
        with (
            subtests.test(statement=statement),
            nothing_written(lw),
            pytest.raises(DBAPIError, match="append-only"),
            lw.ctx.engine.begin() as conn,
        ):
            conn.execute(text(statement))
    with lw.ctx.engine.begin() as conn:
        conn.execute(
            insert(AuditEventRow),
            [
                {
                    "project_id": None,
                    "actor": "ops",
                    "action": "note",
                    "entity_type": "system",
                    "entity_id": "-",
                    "before": None,
                    "after": {"text": "maintenance"},
                    "created_at": noted_at,
                }
            ],
        )

    stored = rows(lw, "audit_event")
    assert [(r["actor"], r["action"], r["created_at"]) for r in stored] == [
        ("system", "project.created", datetime(2026, 1, 1, tzinfo=UTC)),
        ("client", "item.routed", datetime(2026, 1, 1, tzinfo=UTC)),
        ("ops", "note", noted_at),
    ]
    assert stored[0]["after"] is not None
    assert stored[2]["after"] == {"text": "maintenance"}


def test_events_are_read_in_order_by_project_and_entity(lw: Loopwise, clock: FrozenClock) -> None:
    sms = make_text_project(lw)
    other = make_text_project(lw, "other")
    clock.advance(seconds=1)
    [first, second] = lw.submit("sms", text_items(["a", "b"]))
    lw.submit("other", text_items(["c"]))

    everything = lw.audit_events()
    assert [(e.project_id, e.action) for e in everything] == [
        (sms.id, "project.created"),
        (other.id, "project.created"),
        (sms.id, "item.routed"),
        (sms.id, "item.routed"),
        (other.id, "item.routed"),
    ]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert [e.created_at.second for e in everything] == [0, 0, 1, 1, 1]
    assert [e.entity_id for e in lw.audit_events("sms", entity_type="item")] == [
        str(first.item_id),
        str(second.item_id),
    ]
    [only] = lw.audit_events(entity_type="item", entity_id=str(second.item_id))
    assert only.after is not None
    assert only.after["external_id"] == second.external_id
