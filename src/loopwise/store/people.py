"""Who is asking, in one round trip: the project, the reviewer, their membership and what a
claim checks before it picks (tasks held, verdicts today, lapsed leases, tasks due to age).

Split from :mod:`loopwise.store.queue` (which serves and claims) to keep each short; the use cases
in :mod:`loopwise.services.reviewers` and :mod:`loopwise.services.reviews` call it first.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, exists, false, func, select, true
from sqlalchemy.orm import Session

from loopwise.store.columns import UTCDateTime
from loopwise.store.review_sql import CLAIMED_SQL, OPEN_SQL
from loopwise.store.review_sql import member_table as _member
from loopwise.store.review_sql import project_table as _project
from loopwise.store.review_sql import review_table as _review
from loopwise.store.review_sql import reviewer_table as _reviewer
from loopwise.store.review_sql import task_table as _task
from loopwise.store.review_sql import webhook_table as _webhook

PERSON_COLUMNS = (
    "id",
    "name",
    "role",
    "tags",
    "active",
    "max_open_tasks",
    "daily_limit",
    "session_started_at",
    "session_last_at",
    "session_count",
)
"""The reviewer's columns that :func:`people` returns, prefixed ``reviewer_``."""


@functools.cache
def people_query(*, lock: bool, checks: bool) -> Select[Any]:
    """The statement of :func:`people` (built once: building it costs more than running it)."""
    hooks = exists().where(_webhook.c.project_id == _project.c.id, _webhook.c.active.is_(true()))
    columns: list[Any] = [
        _project.c.id.label("project_id"),
        _project.c.revision.label("project_revision"),
        *(_reviewer.c[name].label(f"reviewer_{name}") for name in PERSON_COLUMNS),
        _member.c.id.label("member_id"),
        hooks.label("webhooks"),
    ]
    if checks:
        # The time is compared outside each subquery, never inside: a prepared statement's
        # generic plan cannot tell how many rows "promote_at <= $1" keeps, and planned an
        # EXISTS over the whole queue (10 ms at 100,000 open tasks) to find none.
        now = bindparam("now", type_=UTCDateTime())
        leases = (
            select(_task.c.lease_expires_at)
            .where(_task.c.claimed_by == _reviewer.c.name, _task.c.status == CLAIMED_SQL)
            .correlate(_reviewer)
            .subquery("leases")
        )
        held = (
            select(func.count())
            .select_from(leases)
            .where(leases.c.lease_expires_at > now)
            .scalar_subquery()
        )
        today = (
            select(func.count())
            .select_from(_review)
            .where(
                _review.c.reviewer == _reviewer.c.name,
                _review.c.created_at >= bindparam("midnight", type_=UTCDateTime()),
            )
            .scalar_subquery()
        )
        first_lapse = (
            select(func.min(_task.c.lease_expires_at))
            .where(_task.c.project_id == _project.c.id, _task.c.status == CLAIMED_SQL)
            .scalar_subquery()
        )
        first_promotion = (
            select(func.min(_task.c.promote_at))
            .where(_task.c.project_id == _project.c.id, _task.c.status == OPEN_SQL)
            .scalar_subquery()
        )
        lapsed = func.coalesce(first_lapse <= now, false())
        due = func.coalesce(first_promotion <= now, false())
        columns += [
            held.label("held"),
            case((_reviewer.c.daily_limit.is_(None), None), else_=today).label("done_today"),
            lapsed.label("lapsed"),
            due.label("due"),
        ]
    member = (_member.c.reviewer_id == _reviewer.c.id) & (_member.c.project_id == _project.c.id)
    query = select(*columns)
    if lock:
        return (
            query.select_from(_reviewer)
            .join(_project, _project.c.name == bindparam("project"))
            .outerjoin(_member, member)
            .where(_reviewer.c.name == bindparam("reviewer"))
            .with_for_update(of=_reviewer)
        )
    return (
        query.select_from(_project)
        .outerjoin(_reviewer, _reviewer.c.name == bindparam("reviewer"))
        .outerjoin(_member, member)
        .where(_project.c.name == bindparam("project"))
    )


def people(
    session: Session,
    project: str,
    reviewer: str,
    *,
    lock: bool = False,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """A project's id and revision with a reviewer (columns ``reviewer_<name>`` of
    :data:`PERSON_COLUMNS`, ``None`` when no such reviewer), their membership (``member_id``)
    and whether the project has an active webhook (``webhooks``), in one round trip.

    ``lock`` holds the reviewer's row (their session and limits change with the use case);
    the reviewer must then exist for a row to come back (``FOR UPDATE`` cannot reach the
    nullable side of an outer join), so a missing row means either is unknown; otherwise a
    missing row means no such project.

    With ``now``, also what a claim checks before it picks: ``held`` (tasks the reviewer
    holds under a live lease, in any project), ``done_today`` (their verdicts since midnight,
    only when they have a daily limit), ``lapsed`` (a held task of the project whose lease ran
    out) and ``due`` (an open task due to move up a level).
    """
    params: dict[str, Any] = {"project": project, "reviewer": reviewer}
    if now is not None:
        params["now"] = now
        params["midnight"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
    query = people_query(lock=lock, checks=now is not None)
    row = session.execute(query, params).first()
    return None if row is None else dict(row._mapping)
