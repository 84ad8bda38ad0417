"""The statements behind claim keys (0013): a claim may carry a key, which its task keeps
(``review_task.claim_key``), and a key given back before its claim is made is remembered
(``released_claim``) so that claim takes nothing.

A claim and the give-back of its key must not pass each other: on PostgreSQL both take a
transaction-scoped advisory lock on the (reviewer, key) pair first, so whichever comes second
sees what the first wrote. SQLite's write transactions take the database's write lock when
they begin (``BEGIN IMMEDIATE``), which orders them already.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from loopwise.core.enums import TaskStatus
from loopwise.store.tables import ReleasedClaimRow, ReviewTaskRow


def lock(session: Session, reviewer: str, keys: Collection[str]) -> None:
    """Hold ``reviewer``'s ``keys`` until the transaction ends (PostgreSQL; in a stable order,
    so two transactions locking several keys cannot deadlock)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(keys):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))"),
            {"lock": f"claim:{reviewer}:{key}"},
        )


def released(session: Session, reviewer: str, key: str) -> bool:
    """Whether ``reviewer`` gave ``key`` back before any claim with it was made."""
    found = session.scalar(
        select(func.count())
        .select_from(ReleasedClaimRow)
        .where(ReleasedClaimRow.reviewer == reviewer, ReleasedClaimRow.claim_key == key)
    )
    return bool(found)


def held(
    session: Session, project_id: int, reviewer: str, keys: Collection[str]
) -> Sequence[ReviewTaskRow]:
    """The tasks of the project ``reviewer`` holds through claims made with ``keys`` (their rows,
    to change: a reviewer's held tasks are few, found by ``ix_review_task_holder``)."""
    return session.scalars(
        select(ReviewTaskRow)
        .where(
            ReviewTaskRow.claimed_by == reviewer,
            ReviewTaskRow.status == TaskStatus.CLAIMED.value,
            ReviewTaskRow.project_id == project_id,
            ReviewTaskRow.claim_key.in_(sorted(keys)),
        )
        .order_by(ReviewTaskRow.id)
    ).all()


def remember(session: Session, reviewer: str, keys: Collection[str], now: datetime) -> None:
    """Remember ``keys`` as given back by ``reviewer`` (those not remembered already)."""
    if not keys:
        return
    known = set(
        session.scalars(
            select(ReleasedClaimRow.claim_key).where(
                ReleasedClaimRow.reviewer == reviewer,
                ReleasedClaimRow.claim_key.in_(sorted(keys)),
            )
        )
    )
    fresh = [
        {"reviewer": reviewer, "claim_key": key, "released_at": now}
        for key in sorted(keys)
        if key not in known
    ]
    if fresh:
        session.execute(insert(ReleasedClaimRow), fresh)


def forget(session: Session, before: datetime) -> None:
    """Forget the keys given back before ``before`` (``ix_released_claim_released_at``)."""
    session.execute(delete(ReleasedClaimRow).where(ReleasedClaimRow.released_at < before))
