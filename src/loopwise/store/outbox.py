"""The webhook outbox: messages written in the transaction that caused them, claimed by the
delivery worker with a short lock so several workers never send one message twice at once."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from loopwise.store.tables import ItemRow, ProjectRow, WebhookMessageRow, WebhookRow
from loopwise.webhooks.events import SOURCES, webhook_events

__all__ = ["DELIVERED", "FAILED", "PENDING", "SOURCES", "claim_due", "enqueue", "finish"]

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


def enqueue(
    session: Session,
    audit: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    quiet: Collection[int] = (),
) -> int:
    """Add an outbox message per webhook for every webhook event these audit events announce;
    returns how many. Costs nothing when no audit event can produce one, or when they all
    belong to ``quiet`` projects (known to the caller to have no active webhook)."""
    projects = {
        e["project_id"]
        for e in audit
        if e["action"] in SOURCES and e["project_id"] is not None and e["project_id"] not in quiet
    }
    if not projects:
        return 0
    hooks = session.execute(
        select(WebhookRow.id, WebhookRow.project_id, WebhookRow.events).where(
            WebhookRow.project_id.in_(projects), WebhookRow.active.is_(True)
        )
    ).all()
    if not hooks:  # the usual case: nothing to build (a bulk submit has 1,000s of events)
        return 0
    events = webhook_events(audit)
    if not events:
        return 0
    names = dict(
        session.execute(
            select(ProjectRow.id, ProjectRow.name).where(ProjectRow.id.in_(projects))
        ).all()
    )
    missing = [e.item_id for e in events if e.item_id is not None]
    external: dict[int, str] = {}
    for start in range(0, len(missing), 900):
        external.update(
            session.execute(
                select(ItemRow.id, ItemRow.external_id).where(
                    ItemRow.id.in_(missing[start : start + 900])
                )
            ).all()
        )
    rows = []
    for event in events:
        data = dict(event.data)
        if event.item_id is not None:
            data["external_id"] = external.get(event.item_id)
        body = {
            "type": event.type,
            "timestamp": now.isoformat(),
            "data": {"project": names[event.project_id], **data},
        }
        for hook_id, project_id, subscribed in hooks:
            if project_id == event.project_id and event.type in subscribed:
                rows.append(
                    {
                        "webhook_id": hook_id,
                        "msg_id": "msg_" + uuid.uuid4().hex,
                        "event_type": event.type,
                        "payload": body,
                        "status": PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
    if rows:
        session.execute(insert(WebhookMessageRow), rows)
    return len(rows)


def claim_due(
    session: Session, now: datetime, *, limit: int, lock_for: timedelta
) -> list[tuple[WebhookMessageRow, WebhookRow]]:
    """Due messages with their webhook, locked for ``lock_for`` so other workers skip them
    (``SKIP LOCKED`` on PostgreSQL; SQLite writers are serialised anyway)."""
    found = session.execute(
        select(WebhookMessageRow, WebhookRow)
        .join(WebhookRow, WebhookRow.id == WebhookMessageRow.webhook_id)
        .where(
            WebhookMessageRow.status == PENDING,
            WebhookMessageRow.next_attempt_at <= now,
            or_(
                WebhookMessageRow.locked_until.is_(None),
                WebhookMessageRow.locked_until <= now,
            ),
        )
        .order_by(WebhookMessageRow.next_attempt_at, WebhookMessageRow.id)
        .limit(limit)
        .with_for_update(of=WebhookMessageRow, skip_locked=True)
    ).all()
    ids = [m.id for m, _ in found]
    if ids:
        session.execute(
            update(WebhookMessageRow)
            .where(WebhookMessageRow.id.in_(ids))
            .values(locked_until=now + lock_for)
        )
    return [(m, h) for m, h in found]


def finish(
    session: Session,
    message_id: int,
    *,
    values: Mapping[str, Any],
    locked_until: datetime | None,
) -> bool:
    """Write a delivery attempt's outcome if this worker still holds the message's lock."""
    result = session.execute(
        update(WebhookMessageRow)
        .where(
            and_(
                WebhookMessageRow.id == message_id,
                WebhookMessageRow.status == PENDING,
                WebhookMessageRow.locked_until == locked_until,
            )
        )
        .values(**values, locked_until=None)
    )
    return bool(getattr(result, "rowcount", 0))


def update_pending(webhook_id: int, *, status: str, error: str) -> Any:
    """A statement closing every pending message of one webhook."""
    return (
        update(WebhookMessageRow)
        .where(WebhookMessageRow.webhook_id == webhook_id, WebhookMessageRow.status == PENDING)
        .values(status=status, last_error=error, locked_until=None)
    )
