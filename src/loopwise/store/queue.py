"""The review queue's SQL: serve, claim, expire leases, age, and pick gold items.

Every statement that picks rows for a change locks them with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent claimers never wait on each other nor take the same row; SQLite
serialises writers instead (``BEGIN IMMEDIATE``, see :mod:`loopwise.store.db`). The serve
order (level, score, id) is an index (``ix_review_task_serve``), so picking the next task
does not sort the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.orm import Session

from loopwise.core.enums import Stage, TaskStatus, Verdict
from loopwise.store.tables import HoneypotRow, ReviewRow, ReviewTaskRow

ACTIVE = (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value)
ANSWERS = tuple(v.value for v in Verdict if v.answers)
SERVE_ORDER = (ReviewTaskRow.priority, ReviewTaskRow.priority_score.desc(), ReviewTaskRow.id)


def queue_query(project_id: int, stage: Stage | None) -> Select[ReviewTaskRow]:
    """Open and held tasks in serve order."""
    query = select(ReviewTaskRow).where(
        ReviewTaskRow.project_id == project_id,
        ReviewTaskRow.status.in_(ACTIVE),
        ReviewTaskRow.honeypot_id.is_(None),
    )
    if stage is not None:
        query = query.where(ReviewTaskRow.stage == stage.value)
    return query.order_by(*SERVE_ORDER)


def next_claimable(
    session: Session,
    project_id: int,
    stage: Stage,
    reviewer: str,
    tag_keys: Sequence[str] | None,
    *,
    lock: bool = True,
) -> ReviewTaskRow | None:
    """The best open task ``reviewer`` may take, locked unless ``lock`` is false; ``tag_keys``
    ``None`` = any tags.

    Never an item the reviewer answered, skipped or escalated before at the same stage (an
    expert may settle an item they saw as a reviewer: otherwise a small team's escalations
    could wait for ever).
    """
    seen = exists().where(
        ReviewRow.item_id == ReviewTaskRow.item_id,
        ReviewRow.reviewer == reviewer,
        ReviewRow.stage == stage.value,
    )
    query = select(ReviewTaskRow).where(
        ReviewTaskRow.project_id == project_id,
        ReviewTaskRow.stage == stage.value,
        ReviewTaskRow.status == TaskStatus.OPEN.value,
        ~seen,
    )
    if tag_keys is not None:
        query = query.where(ReviewTaskRow.required_tags.in_(list(tag_keys)))
    query = query.order_by(*SERVE_ORDER).limit(1)
    return session.scalar(query.with_for_update(skip_locked=True) if lock else query)


def claim(session: Session, task_id: int, reviewer: str, now: datetime, expires: datetime) -> bool:
    """Take an open task; ``False`` if someone else took it first."""
    result = session.execute(
        update(ReviewTaskRow)
        .where(ReviewTaskRow.id == task_id, ReviewTaskRow.status == TaskStatus.OPEN.value)
        .values(
            status=TaskStatus.CLAIMED.value,
            claimed_by=reviewer,
            claimed_at=now,
            lease_expires_at=expires,
        )
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lapsed(
    session: Session, project_id: int, now: datetime, limit: int = 100
) -> list[ReviewTaskRow]:
    """Held tasks whose lease ran out, locked, for returning to the queue."""
    return list(
        session.scalars(
            select(ReviewTaskRow)
            .where(
                ReviewTaskRow.project_id == project_id,
                ReviewTaskRow.lease_expires_at <= now,
                ReviewTaskRow.status == TaskStatus.CLAIMED.value,
            )
            .order_by(ReviewTaskRow.lease_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def due_for_ageing(
    session: Session, project_id: int, now: datetime, limit: int = 500
) -> list[ReviewTaskRow]:
    """Waiting tasks whose time at their level is up, locked, for moving up a level."""
    return list(
        session.scalars(
            select(ReviewTaskRow)
            .where(
                ReviewTaskRow.project_id == project_id,
                ReviewTaskRow.promote_at <= now,
                ReviewTaskRow.status == TaskStatus.OPEN.value,
            )
            .order_by(ReviewTaskRow.promote_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def held_count(session: Session, reviewer: str, now: datetime) -> int:
    """Tasks ``reviewer`` holds under a live lease, across projects (the limit is on the
    person; a lapsed lease no longer counts even before the task is returned)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ReviewTaskRow)
            .where(
                ReviewTaskRow.claimed_by == reviewer,
                ReviewTaskRow.status == TaskStatus.CLAIMED.value,
                ReviewTaskRow.lease_expires_at > now,
            )
        )
        or 0
    )


def reviews_since(session: Session, reviewer: str, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ReviewRow)
            .where(ReviewRow.reviewer == reviewer, ReviewRow.created_at >= since)
        )
        or 0
    )


def gold_candidates(
    session: Session, project_id: int, reviewer: str, limit: int = 50
) -> list[HoneypotRow]:
    """Gold items ``reviewer`` has neither answered nor holds now."""
    answered = exists().where(
        ReviewRow.item_id == HoneypotRow.item_id, ReviewRow.reviewer == reviewer
    )
    held = exists().where(
        ReviewTaskRow.honeypot_id == HoneypotRow.id,
        ReviewTaskRow.claimed_by == reviewer,
        ReviewTaskRow.status == TaskStatus.CLAIMED.value,
    )
    return list(
        session.scalars(
            select(HoneypotRow)
            .where(HoneypotRow.project_id == project_id, ~answered, ~held)
            .order_by(HoneypotRow.id)
            .limit(limit)
        )
    )


def answers_of(session: Session, task_id: int) -> list[ReviewRow]:
    """The reviews of a task that say what the label is (not skips or escalations)."""
    return list(
        session.scalars(
            select(ReviewRow)
            .where(ReviewRow.task_id == task_id, ReviewRow.verdict.in_(ANSWERS))
            .order_by(ReviewRow.id)
        )
    )


def consensus_history(
    session: Session, project_id: int, window: int
) -> list[tuple[int, str, str, str | None]]:
    """Recent answers on multi-review and gold tasks: ``(item id, reviewer, label, gold)``.

    ``gold`` is the known label of a gold item, else ``None``. What an aggregator learns the
    reviewers' reliability from.
    """
    rows = session.execute(
        select(ReviewRow.item_id, ReviewRow.reviewer, ReviewRow.label, HoneypotRow.label)
        .join(ReviewTaskRow, ReviewTaskRow.id == ReviewRow.task_id)
        .outerjoin(HoneypotRow, HoneypotRow.id == ReviewTaskRow.honeypot_id)
        .where(
            ReviewRow.project_id == project_id,
            ReviewRow.verdict.in_(ANSWERS),
            ReviewRow.label.is_not(None),
            ReviewTaskRow.stage == Stage.REVIEW.value,
            (ReviewTaskRow.required_reviews > 1) | ReviewTaskRow.honeypot_id.is_not(None),
        )
        .order_by(ReviewRow.id.desc())
        .limit(window)
    ).all()
    return [(int(i), str(r), str(label), gold) for i, r, label, gold in rows]
