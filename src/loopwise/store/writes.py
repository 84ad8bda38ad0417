"""The writes of the most common verdicts, in one round trip each.

A lone reviewer's (or an expert's) answer that settles its task writes the review, the
reviewer's session, the decision's final label, the item's status, the task's, the label
(and, for some model errors, a golden-set entry) and two audit events; the first answer of a
task that takes several writes the review, the session, the task (back to the queue) and an
audit event. Through the ORM each row costs a statement, a round trip and about 0.15 ms of
Python; here they are prebuilt Core statements with bound parameters. On PostgreSQL the parts
of a verdict run as one statement of data-modifying CTEs (one round trip: each part touches
another row, so their order does not matter, and the constraints are checked at its end). On
SQLite, which runs in process and has no data-modifying CTEs, they run one after the other.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    Delete,
    Insert,
    Table,
    Update,
    bindparam,
    insert,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from loopwise.core.enums import ItemStatus, TaskStatus
from loopwise.store.columns import UTCDateTime
from loopwise.store.tables import (
    AuditEventRow,
    DecisionRow,
    GoldenItemRow,
    ItemRow,
    LabelRow,
    ReviewerRow,
    ReviewRow,
    ReviewTaskRow,
)

AUDIT_ROWS = 2
"""Audit events the writes can carry: part ``audit<n>`` writes ``n`` of them, in order."""
AUDIT = tuple(f"audit{n}" for n in range(1, AUDIT_ROWS + 1))
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
PARTS = ("review", "session", "decision", "item", "task", "requeue", "label", "golden", *AUDIT)
"""The writes, by name; each takes the parameters named ``<part>__<column>`` (never a column's
name: SQLAlchemy would add a parameter named like a column to what the statement sets)."""
RETURNS = ("label",)
"""The parts that return the id of the row they insert (the review's id is reserved first,
so that its audit event can name it in the same round trip)."""

_review = cast(Table, ReviewRow.__table__)
_reviewer = cast(Table, ReviewerRow.__table__)
_decision = cast(Table, DecisionRow.__table__)
_item = cast(Table, ItemRow.__table__)
_task = cast(Table, ReviewTaskRow.__table__)
_label = cast(Table, LabelRow.__table__)
_golden = cast(Table, GoldenItemRow.__table__)
_audit = cast(Table, AuditEventRow.__table__)


def _values(table: Table, part: str, names: tuple[str, ...]) -> dict[str, Any]:
    """``{column: bindparam("<part>__<column>")}`` typed as the column."""
    return {n: bindparam(f"{part}__{n}", type_=table.c[n].type) for n in names}


def _now(part: str) -> Any:
    return bindparam(f"{part}__now", type_=UTCDateTime())


@functools.cache
def _statements() -> dict[str, Insert | Update | Delete]:
    review = _values(
        _review,
        "review",
        (
            "id",
            "project_id",
            "task_id",
            "item_id",
            "reviewer",
            "verdict",
            "label",
            "error_category",
            "comment",
            "stage",
            "session_position",
            "created_at",
        ),
    )
    label = _values(
        _label,
        "label",
        (
            "project_id",
            "item_id",
            "value",
            "source",
            "split",
            "weight",
            "agreement",
            "review_task_id",
            "created_by",
            "created_at",
        ),
    )
    golden = _values(_golden, "golden", ("project_id", "item_id", "label", "reason", "created_at"))
    return {
        **{f"audit{n}": _audit_rows(n) for n in range(1, AUDIT_ROWS + 1)},
        "review": insert(_review).values(**review),
        "session": update(_reviewer)
        .where(_reviewer.c.id == bindparam("session__id"))
        .values(
            **_values(
                _reviewer, "session", ("session_started_at", "session_last_at", "session_count")
            )
        ),
        "decision": update(_decision)
        .where(_decision.c.item_id == bindparam("decision__item_id"))
        .values(
            final_label=bindparam("decision__final_label", type_=_decision.c.final_label.type),
            decided_by=bindparam("decision__decided_by", type_=_decision.c.decided_by.type),
            decided_at=_now("decision"),
        ),
        "item": update(_item)
        .where(_item.c.id == bindparam("item__id"))
        .values(status=ItemStatus.RESOLVED.value, updated_at=_now("item")),
        "task": update(_task)
        .where(_task.c.id == bindparam("task__id"))
        .values(status=TaskStatus.DONE.value, resolved_at=_now("task"), lease_expires_at=None),
        "requeue": update(_task)
        .where(_task.c.id == bindparam("requeue__id"))
        .values(status=TaskStatus.OPEN.value, claimed_by=None, lease_expires_at=None),
        "label": insert(_label).values(**label).returning(_label.c.id),
        "golden": insert(_golden).values(**golden),
    }


def _audit_rows(n: int) -> Insert:
    """Insert ``n`` audit events (``audit<n>__<i>_<column>``) in order, so their ids follow
    the order they happened in; ``INSERT ... SELECT`` of a ``UNION ALL``, as SQLAlchemy
    cannot cache a multi-row ``VALUES``."""
    rows = [
        select(
            literal(i).label("position"),
            *(
                bindparam(f"audit{n}__{i}_{c}", type_=_audit.c[c].type).label(c)
                for c in AUDIT_COLUMNS
            ),
        )
        for i in range(n)
    ]
    source = (union_all(*rows) if n > 1 else rows[0]).subquery("events")
    ordered = select(*(source.c[c] for c in AUDIT_COLUMNS)).order_by(source.c.position)
    return insert(_audit).from_select(AUDIT_COLUMNS, ordered)


@functools.cache
def _together(parts: tuple[str, ...]) -> Any:
    """``parts`` as one PostgreSQL statement: each a CTE, the inserted ids selected."""
    ctes = {part: _statements()[part].cte(f"w_{part}") for part in parts}
    returned = [part for part in parts if part in RETURNS]
    if returned:
        query = select(*(ctes[p].c.id.label(p) for p in returned))
        for p in returned[1:]:
            query = query.join_from(ctes[returned[0]], ctes[p], literal_column("true"))
    else:
        query = select(literal_column("1").label("done"))
    others = [c for p, c in ctes.items() if p not in returned]
    return query.add_cte(*others) if others else query


def write(session: Session, parts: tuple[str, ...], params: Mapping[str, Any]) -> dict[str, int]:
    """Run ``parts`` (names from :data:`PARTS`, each at most once) with ``params``; the ids
    inserted by those of them in :data:`RETURNS`, by part.

    The audit parts take an event each; their parameters can be made with
    :func:`audit_params`.
    """
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_together(parts), dict(params)).one()
        return {p: int(getattr(row, p)) for p in parts if p in RETURNS}
    ids: dict[str, int] = {}
    statements = _statements()
    for part in parts:
        mine = {k: v for k, v in params.items() if k.startswith(part + "__")}
        result = session.execute(statements[part], mine)
        if part in RETURNS:
            ids[part] = int(result.scalar_one())
    return ids


def audit_params(events: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The audit part that writes ``events`` (columns of ``AuditEventRow`` by name) in order,
    and its parameters."""
    if not 1 <= len(events) <= AUDIT_ROWS:
        raise ValueError(f"the writes carry 1 to {AUDIT_ROWS} audit events, not {len(events)}")
    part = f"audit{len(events)}"
    return (part,), {
        f"{part}__{i}_{k}": v for i, event in enumerate(events) for k, v in event.items()
    }
