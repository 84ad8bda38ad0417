"""Reading the database behind a ``Loopwise`` directly: rows, counts, snapshots, invariants.

Integration tests assert on what is stored, not only on what a use case returns. These helpers
read every table through SQLAlchemy Core on ``lw.ctx.engine`` (a connection of their own, so
they see only committed data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy import Table, func, select

from loopwise import ItemStatus, Loopwise, TaskStatus
from loopwise.errors import LoopwiseError
from loopwise.store.tables import Base

E = TypeVar("E", bound=LoopwiseError)

TABLES: tuple[Table, ...] = tuple(Base.metadata.sorted_tables)
Rows = list[dict[str, Any]]


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def rows(lw: Loopwise, name: str, /, **where: Any) -> Rows:
    """Every row of table ``name`` (optionally filtered by column equality), ordered by id."""
    tbl = table(name)
    query = select(tbl).order_by(*tbl.primary_key.columns)
    for column, value in where.items():
        query = query.where(tbl.c[column] == value)
    with lw.ctx.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def one(lw: Loopwise, name: str, /, **where: Any) -> dict[str, Any]:
    """The single row of ``name`` matching ``where``; fails if there are none or several."""
    found = rows(lw, name, **where)
    assert len(found) == 1, f"expected one {name} row for {where}, found {len(found)}"
    return found[0]


def row_counts(lw: Loopwise) -> dict[str, int]:
    """How many rows each table holds, audit events included."""
    with lw.ctx.engine.connect() as conn:
        return {
            tbl.name: int(conn.scalar(select(func.count()).select_from(tbl)) or 0) for tbl in TABLES
        }


def snapshot(lw: Loopwise) -> dict[str, Rows]:
    """Every row of every table: equal snapshots mean nothing was written in between."""
    with lw.ctx.engine.connect() as conn:
        return {
            tbl.name: [
                dict(r)
                for r in conn.execute(select(tbl).order_by(*tbl.primary_key.columns)).mappings()
            ]
            for tbl in TABLES
        }


@contextmanager
def nothing_written(lw: Loopwise, *, values: bool = True) -> Iterator[None]:
    """Assert the block leaves every table as it found it: row counts, then (unless ``values``
    is false, for speed) every value of every row."""
    counts = row_counts(lw)
    before = snapshot(lw) if values else {}
    yield
    assert row_counts(lw) == counts
    if values:
        assert snapshot(lw) == before


@contextmanager
def refused(lw: Loopwise, error: type[E], field: str | None) -> Iterator[pytest.ExceptionInfo[E]]:
    """The block must raise exactly ``error`` naming ``field``, and write nothing at all."""
    with nothing_written(lw), pytest.raises(error) as info:
        yield info
    assert type(info.value) is error, f"{type(info.value).__name__} is not {error.__name__}"
    assert info.value.field == field


def item_id(lw: Loopwise, external_id: str) -> int:
    return int(one(lw, "item", external_id=external_id)["id"])


def decision_of(lw: Loopwise, external_id: str) -> dict[str, Any]:
    """The decision row of the item with ``external_id`` (the only item with it)."""
    return one(lw, "decision", item_id=item_id(lw, external_id))


def prediction_of(lw: Loopwise, external_id: str) -> dict[str, Any]:
    return one(lw, "prediction", item_id=item_id(lw, external_id))


def task_of(lw: Loopwise, external_id: str) -> dict[str, Any] | None:
    """The item's review task, ``None`` when it was never queued; fails if it has several."""
    found = rows(lw, "review_task", item_id=item_id(lw, external_id))
    assert len(found) <= 1, f"item {external_id} has {len(found)} tasks"
    return found[0] if found else None


def by_external_id(lw: Loopwise, name: str, /) -> dict[str, dict[str, Any]]:
    """Rows of ``name`` (a table with ``item_id``, at most one row per item) keyed by their
    item's external id: a whole table in two queries, for checks over many items."""
    external = {r["id"]: r["external_id"] for r in rows(lw, "item")}
    out: dict[str, dict[str, Any]] = {}
    for row in rows(lw, name):
        key = external[row["item_id"]]
        assert key not in out, f"item {key} has several {name} rows"
        out[key] = row
    return out


def events(lw: Loopwise, action: str) -> Rows:
    """Audit events of one ``action``, oldest first."""
    return rows(lw, "audit_event", action=action)


def project_id(lw: Loopwise, name: str) -> int:
    return lw.project(name).id


def assert_no_item_lost(lw: Loopwise, project: str, accepted: Iterable[str]) -> None:
    """The loop's invariant: every accepted item is stored, in exactly one well-formed state.

    * every accepted external id has exactly one item row;
    * each item is ``decided``, ``queued`` or ``resolved``;
    * a queued item has exactly one open-or-claimed task and a decision with no final label;
    * a decided item has a decision with a final label, decided by a model, and no live task;
    * a resolved item has a decision with ``decided_by`` set and no live task;
    * a claimed task has a holder and a lease; an open one has neither.
    """
    pid = project_id(lw, project)
    items = rows(lw, "item", project_id=pid)
    by_external = Counter(r["external_id"] for r in items)
    accepted = set(accepted)
    missing = sorted(e for e in accepted if by_external[e] == 0)
    assert not missing, f"accepted items lost: {missing}"
    assert all(n == 1 for n in by_external.values())
    assert set(by_external) == accepted
    decisions: dict[int, list[dict[str, Any]]] = {}
    for d in rows(lw, "decision", project_id=pid):
        decisions.setdefault(d["item_id"], []).append(d)
    live: dict[int, list[dict[str, Any]]] = {}
    for t in rows(lw, "review_task", project_id=pid):
        if t["status"] in (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value):
            live.setdefault(t["item_id"], []).append(t)
        if t["status"] == TaskStatus.CLAIMED.value:
            assert None not in (t["claimed_by"], t["lease_expires_at"]), t
        if t["status"] == TaskStatus.OPEN.value:
            assert (t["claimed_by"], t["lease_expires_at"]) == (None, None), t
    labels = Counter(r["item_id"] for r in rows(lw, "label", project_id=pid))
    assert all(n == 1 for n in labels.values())
    for item in items:
        status = ItemStatus(item["status"])
        item_decisions = decisions.get(item["id"], [])
        assert len(item_decisions) == 1, f"item {item['external_id']} has {item_decisions}"
        decision = item_decisions[0]
        tasks = live.get(item["id"], [])
        if status is ItemStatus.QUEUED:
            assert len(tasks) == 1, f"queued item {item['external_id']} has tasks {tasks}"
            assert decision["final_label"] is None
            assert decision["decided_by"] is None
            assert labels[item["id"]] == 0
        elif status is ItemStatus.DECIDED:
            assert tasks == []
            assert decision["final_label"] is not None
            assert decision["decided_by"] == "caller-model" or str(
                decision["decided_by"]
            ).startswith("model:v")
            assert labels[item["id"]] == 0
        else:
            assert status is ItemStatus.RESOLVED
            assert tasks == []
            assert decision["decided_by"] is not None
            assert decision["decided_at"] is not None
            assert labels[item["id"]] == (0 if decision["final_label"] is None else 1)
