"""The review queue's SQL: serve, claim, hold, expire leases and age tasks (who may claim:
:mod:`.people`; what was answered and the gold items a reviewer may see: :mod:`.answers`).

Every statement that picks rows for a change locks them with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent claimers never wait on each other nor take the same row; SQLite
serialises writers instead (``BEGIN IMMEDIATE``, see :mod:`loopwise.store.db`). The serve
order (level, score, id) is an index (``ix_review_task_serve``), so picking the next task
does not sort the queue.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    Update,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from loopwise.core.enums import Stage, TaskStatus
from loopwise.store.columns import Id, UTCDateTime
from loopwise.store.people import people_query
from loopwise.store.review_sql import ACTIVE, ANSWERS_SQL, CLAIMED_SQL, OPEN_SQL
from loopwise.store.review_sql import audit_table as _audit
from loopwise.store.review_sql import decision_table as _decision
from loopwise.store.review_sql import honeypot_table as _honeypot
from loopwise.store.review_sql import item_table as _item
from loopwise.store.review_sql import prediction_table as _prediction
from loopwise.store.review_sql import project_table as _project
from loopwise.store.review_sql import review_table as _review
from loopwise.store.review_sql import reviewer_table as _reviewer
from loopwise.store.review_sql import task_table as _task
from loopwise.store.tables import ReviewRow, ReviewTaskRow

SERVE_ORDER = (ReviewTaskRow.priority, ReviewTaskRow.priority_score.desc(), ReviewTaskRow.id)
AUDIT_COLUMNS = (
    "project_id",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "created_at",
)


ITEM_COLUMNS = ("id", "project_id", "external_id", "payload", "metadata", "status", "created_at")
PREDICTION_COLUMNS = (
    "id",
    "item_id",
    "model_version_id",
    "probabilities",
    "predicted_label",
    "confidence",
    "uncertainty",
    "created_at",
)
"""What a reviewer is shown of an item and its latest prediction, as ``item_<column>`` and
``prediction_<column>`` in :func:`claim_best`'s row (see :func:`loopwise.store.mappers.shown`)."""


def _shown_from(item_id: ColumnElement[int], source: FromClause) -> Select[Any]:
    """The item, latest prediction and reasons of the task(s) in ``source``."""
    newer = _prediction.alias("newer")
    latest = select(func.max(newer.c.id)).where(newer.c.item_id == item_id).scalar_subquery()
    return select(
        *(_item.c[name].label(f"item_{name}") for name in ITEM_COLUMNS),
        *(_prediction.c[name].label(f"prediction_{name}") for name in PREDICTION_COLUMNS),
        _decision.c.reasons.label("reasons"),
    ).select_from(
        source.join(_item, _item.c.id == item_id)
        .outerjoin(_prediction, _prediction.c.id == latest)
        .outerjoin(_decision, _decision.c.item_id == item_id)
    )


@functools.cache
def _claim(*, tags: bool, shown: bool) -> Update | Select[Any]:
    """The claim statement; ``shown``: as a CTE, with what the reviewer is shown and the
    claim's audit event written (one round trip on PostgreSQL, which runs data-modifying
    CTEs)."""
    pick = _task.alias("pick")
    seen = exists().where(
        _review.c.item_id == pick.c.item_id,
        _review.c.reviewer == bindparam("b_reviewer"),
        _review.c.stage == bindparam("b_stage"),
    )
    chosen = select(pick.c.id).where(
        pick.c.project_id == bindparam("b_project"),
        pick.c.stage == bindparam("b_stage"),
        pick.c.status == OPEN_SQL,
        ~seen,
    )
    if tags:
        chosen = chosen.where(pick.c.required_tags.in_(bindparam("b_tags", expanding=True)))
    chosen = (
        chosen.order_by(pick.c.priority, pick.c.priority_score.desc(), pick.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    take = (
        update(_task)
        .where(_task.c.id == chosen.scalar_subquery(), _task.c.status == OPEN_SQL)
        .values(
            status=TaskStatus.CLAIMED.value,
            claimed_by=bindparam("b_reviewer"),
            claimed_at=bindparam("b_now", type_=UTCDateTime()),
            lease_expires_at=bindparam("b_expires", type_=UTCDateTime()),
            claim_key=bindparam("b_key", type_=_task.c.claim_key.type),
        )
        .returning(*_task.c)
    )
    if not shown:
        return take
    taken = take.cte("taken")
    audit = insert(_audit).from_select(
        AUDIT_COLUMNS,
        select(
            bindparam("b_project", type_=Id),
            bindparam("b_reviewer", type_=_audit.c.actor.type),
            literal("task.claimed", _audit.c.action.type),
            literal("review_task", _audit.c.entity_type.type),
            cast_(taken.c.id, _audit.c.entity_id.type),
            bindparam("b_before", type_=_audit.c.before.type),
            bindparam("b_after", type_=_audit.c.after.type),
            bindparam("b_now", type_=UTCDateTime()),
        ).select_from(taken),
    )
    return _shown_from(taken.c.item_id, taken).add_columns(*taken.c).add_cte(audit.cte("w_audit"))


@functools.cache
def _shown() -> Select[Any]:
    one = select(bindparam("item_id", type_=Id).label("item_id")).subquery("one")
    return _shown_from(one.c.item_id, one)


def claim_best(
    session: Session,
    project_id: int,
    stage: Stage,
    reviewer: str,
    tag_keys: Sequence[str] | None,
    now: datetime,
    expires: datetime,
    key: str | None = None,
) -> dict[str, Any] | None:
    """Pick the best open task ``reviewer`` may take (see :func:`next_claimable`) and hold it
    under a lease, marked with the claim's ``key``; the task's columns with what the reviewer
    is shown (``item_<column>``, ``prediction_<column>``, ``reasons``), or ``None`` when there
    is none. ``audited``: the claim's audit event (``task.claimed``, :func:`claimed_audit`) was
    written with it.

    PostgreSQL: one statement, ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)``
    in a CTE joined to the item, so concurrent claimers pass over each other's rows instead
    of waiting or taking the same one. SQLite: the same ``UPDATE`` under the write lock every
    write transaction takes first, then the item (in process: no round trip to save).
    """
    params: dict[str, Any] = {
        "b_project": project_id,
        "b_stage": stage.value,
        "b_reviewer": reviewer,
        "b_now": now,
        "b_expires": expires,
        "b_key": key,
    }
    if tag_keys is not None:
        params["b_tags"] = list(tag_keys)
    together = session.get_bind().dialect.name == "postgresql"
    if together:
        params["b_before"] = None
        params["b_after"] = claimed_audit(expires)
    found = session.execute(_claim(tags=tag_keys is not None, shown=together), params).first()
    if found is None:
        return None
    if together:
        return {**found._mapping, "audited": True}
    return {**found._mapping, **shown_with(session, found.item_id), "audited": False}


def claimed_audit(expires: datetime) -> dict[str, Any]:
    """The ``after`` of a claim's audit event."""
    return {"lease_expires_at": expires.isoformat()}


def shown_with(session: Session, item_id: int) -> dict[str, Any]:
    """What a reviewer is shown of an item (the ``item_``, ``prediction_`` and ``reasons``
    columns of :func:`claim_best`), in one query."""
    return dict(session.execute(_shown(), {"item_id": item_id}).one()._mapping)


TASK_COLUMNS = tuple(column.key for column in _task.c)


@functools.cache
def _held(*, people: bool, reserve: bool = False) -> Select[Any]:
    """The statement of :func:`held_with`; ``people``: joined to :func:`people`'s, locked;
    ``reserve``: with the next review id (``review_id``, PostgreSQL)."""
    newer = _prediction.alias("newer")
    suggestion = (
        select(newer.c.predicted_label)
        .where(newer.c.item_id == _task.c.item_id)
        .order_by(newer.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    answered = (
        select(func.count())
        .select_from(_review)
        .where(_review.c.task_id == _task.c.id, _review.c.verdict.in_(ANSWERS_SQL))
        .scalar_subquery()
    )
    columns = (
        *(_task.c[name].label(f"task_{name}") for name in TASK_COLUMNS),
        answered.label("answered"),
        suggestion.label("suggestion"),
        _honeypot.c.label.label("gold"),
        _item.c.external_id.label("external_id"),
        _item.c.status.label("item_status"),
        _decision.c.final_label.label("decision_final_label"),
        _decision.c.route.label("decision_route"),
    )
    if reserve:
        sequence = func.pg_get_serial_sequence(_review.name, "id")
        columns += (func.nextval(sequence).label("review_id"),)
    if people:
        query = (
            people_query(lock=True, checks=False)
            .add_columns(*columns)
            .join(
                _task, (_task.c.id == bindparam("task_id")) & (_task.c.project_id == _project.c.id)
            )
        )
    else:
        query = select(*columns).select_from(_task).where(_task.c.id == bindparam("task_id"))
    return (
        query.join(_item, _item.c.id == _task.c.item_id)
        .outerjoin(_honeypot, _honeypot.c.id == _task.c.honeypot_id)
        .outerjoin(_decision, _decision.c.item_id == _task.c.item_id)
        .with_for_update(of=[_reviewer, _task] if people else _task)
    )


def held_with(
    session: Session, task_id: int, *, project: str | None = None, reviewer: str | None = None
) -> dict[str, Any] | None:
    """A task, locked, with what a verdict on it needs: its columns as ``task_<column>``, the
    answers it has had (``answered``), the model's latest suggestion for its item
    (``suggestion``), the known answer of a gold task
    (``gold``), the item's ``external_id`` and status (``item_status``), and what its decision
    says (``decision_final_label``, ``decision_route``); ``None`` if there is no such task.

    With ``project`` and ``reviewer``, also :func:`people`'s columns (reviewer locked), in the
    same round trip; then ``None`` also when the project or reviewer is unknown, or the task
    is in another project. On PostgreSQL the row then also reserves the id of the review
    about to be written (``review_id``; elsewhere ``None``: see
    :meth:`loopwise.store.repository.Repository.reserve_ids`).
    """
    if project is None or reviewer is None:
        row = session.execute(_held(people=False), {"task_id": task_id}).first()
        return None if row is None else dict(row._mapping)
    params = {"task_id": task_id, "project": project, "reviewer": reviewer}
    reserve = session.get_bind().dialect.name == "postgresql"
    found = session.execute(_held(people=True, reserve=reserve), params).first()
    if found is None:
        return None
    return {"review_id": None, **found._mapping}


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
                ReviewTaskRow.status == CLAIMED_SQL,
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
                ReviewTaskRow.status == OPEN_SQL,
            )
            .order_by(ReviewTaskRow.promote_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
