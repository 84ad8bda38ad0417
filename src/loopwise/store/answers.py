"""What reviewers answered: a task's answers, the project's consensus history (what an
aggregator learns the reviewers' reliability from) and the gold items a reviewer may be shown.

Split from :mod:`loopwise.store.queue` (which serves and claims) to keep each short.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from loopwise.core.enums import Stage, TaskStatus
from loopwise.store.review_sql import ANSWERS, ANSWERS_SQL
from loopwise.store.tables import HoneypotRow, ReviewRow, ReviewTaskRow


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


def answers_given(session: Session, task_id: int) -> list[tuple[str, str | None]]:
    """``(reviewer, label)`` of each answer a task has had, oldest first (``None``: the
    reviewer judged the input undecidable)."""
    rows = session.execute(
        select(ReviewRow.reviewer, ReviewRow.label)
        .where(ReviewRow.task_id == task_id, ReviewRow.verdict.in_(ANSWERS_SQL))
        .order_by(ReviewRow.id)
    )
    return [(str(reviewer), label) for reviewer, label in rows]


def answers_of(session: Session, task_id: int) -> list[ReviewRow]:
    """The reviews of a task that say what the label is (not skips or escalations)."""
    return list(
        session.scalars(
            select(ReviewRow)
            .where(ReviewRow.task_id == task_id, ReviewRow.verdict.in_(ANSWERS))
            .order_by(ReviewRow.id)
        )
    )


def _consensus_answers(project_id: int) -> list[ColumnElement[bool]]:
    """The answers an aggregator learns from: labels given on multi-review and gold tasks."""
    return [
        ReviewRow.project_id == project_id,
        ReviewRow.verdict.in_(ANSWERS),
        ReviewRow.label.is_not(None),
        ReviewTaskRow.stage == Stage.REVIEW.value,
        (ReviewTaskRow.required_reviews > 1) | ReviewTaskRow.honeypot_id.is_not(None),
    ]


def consensus_history(
    session: Session, project_id: int, window: int
) -> tuple[list[tuple[int, str, str, str | None]], int]:
    """Recent answers on multi-review and gold tasks: ``(item id, reviewer, label, gold)``,
    and the id of the latest review among them (0 if none).

    ``gold`` is the known label of a gold item, else ``None``. What an aggregator learns the
    reviewers' reliability from.
    """
    rows = session.execute(
        select(
            ReviewRow.id, ReviewRow.item_id, ReviewRow.reviewer, ReviewRow.label, HoneypotRow.label
        )
        .join(ReviewTaskRow, ReviewTaskRow.id == ReviewRow.task_id)
        .outerjoin(HoneypotRow, HoneypotRow.id == ReviewTaskRow.honeypot_id)
        .where(*_consensus_answers(project_id))
        .order_by(ReviewRow.id.desc())
        .limit(window)
    ).all()
    latest = int(rows[0][0]) if rows else 0
    return [(int(i), str(r), str(label), gold) for _, i, r, label, gold in rows], latest


def consensus_answers_since(session: Session, project_id: int, review_id: int) -> int:
    """How many answers of :func:`consensus_history`'s kind came after review ``review_id``."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ReviewRow)
            .join(ReviewTaskRow, ReviewTaskRow.id == ReviewRow.task_id)
            .where(ReviewRow.id > review_id, *_consensus_answers(project_id))
        )
        or 0
    )
