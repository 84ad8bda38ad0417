"""Bulk inserts (``Repository.insert_many``, ``audit_many``): the rows an ORM bulk insert wrote,
with ids known up front, on both backends and on both sides of the ``COPY`` threshold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loopwise import Loopwise
from loopwise.store.bulk import COPY_MIN_ROWS
from loopwise.store.tables import (
    AuditEventRow,
    DecisionRow,
    ItemRow,
    PoolItemRow,
    PredictionRow,
    ReviewTaskRow,
)
from tests.factories import make_text_project
from tests.integration.helpers import nothing_written, rows

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
SIZES = [3, COPY_MIN_ROWS + 5]
IGNORED = {"id", "item_id", "prediction_id", "external_id", "entity_id"}
ACTORS = ["client", "tab\there", "new\nline", "back\\slash", "\\N", "cr\rlf", "ünï\\tcode"]
"""Plain text that COPY's text format must escape (``\\N`` is its NULL)."""


def orm_insert(lw: Loopwise, entity: type[Any], values: Sequence[dict[str, Any]]) -> list[int]:
    """What ``insert_many`` did before: an ORM bulk ``INSERT ... RETURNING``."""
    with Session(lw.ctx.engine) as session, session.begin():
        statement = insert(entity).returning(entity.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, list(values)))


def bulk_insert(lw: Loopwise, entity: type[Any], values: Sequence[dict[str, Any]]) -> list[int]:
    with lw.ctx.write() as tx:
        return tx.repo.insert_many(entity, values)


def stored(lw: Loopwise, table: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    found = {r["id"]: r for r in rows(lw, table)}
    return [{k: v for k, v in found[i].items() if k not in IGNORED} for i in ids]


def json_nulls(lw: Loopwise, ids: Sequence[int]) -> list[tuple[bool, bool]]:
    """Per audit event: is ``before`` SQL NULL, is ``after`` SQL NULL (not JSON null)."""
    query = text("SELECT id, before IS NULL, after IS NULL FROM audit_event")
    with lw.ctx.engine.connect() as conn:
        found = {i: (bool(b), bool(a)) for i, b, a in conn.execute(query)}
    return [found[i] for i in ids]


def item_rows(project_id: int, prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "project_id": project_id,
            "external_id": f"{prefix}-{i}",
            "payload": {"text": f'héllo\t"{i}"\n\\ done'},
            "payload_sha256": f"{i:064x}",
            "meta": {} if i % 2 else {"amount": i * 1.5, "tags": ["a", None]},
            "status": "queued",
            "created_at": NOW,
            "updated_at": NOW + timedelta(seconds=i),
        }
        for i in range(n)
    ]


def dependent_rows(project_id: int, item_ids: list[int]) -> dict[type[Any], list[dict[str, Any]]]:
    """Rows of the other tables for these items, with ``None`` values and left-out keys."""
    predictions = [
        {
            "project_id": project_id,
            "item_id": item_id,
            "model_version_id": None,
            "probabilities": [0.25, 0.75],
            "predicted_label": "spam",
            "confidence": 0.1 + i / 1000,
            "uncertainty": 1 / 3,
            "ood_score": None if i % 3 else 0.5,
            "calibration_id": None,
            "created_at": NOW,
        }
        for i, item_id in enumerate(item_ids)
    ]
    decisions = [
        {
            "project_id": project_id,
            "item_id": item_id,
            "prediction_id": None,
            "route": "human",
            "reasons": [f"confidence 0.{i:03d} below threshold 0.900", "ünïcode"],
            "rules": [],
            "final_label": None if i % 2 else "ham",
            "decided_by": None,
            "policy_version": 3,
            "created_at": NOW,
            "decided_at": None,
        }
        for i, item_id in enumerate(item_ids)
    ]
    tasks = [
        {
            "project_id": project_id,
            "item_id": item_id,
            "stage": "review",
            "priority": 2,
            "base_priority": 2,
            "priority_score": 0.5,
            "status": "open",
            "required_reviews": 1,
            "required_tags": "",
            "due_at": NOW + timedelta(hours=4),
            "promote_at": None,
            "escalated_from": None,
            "honeypot_id": None,
            "created_at": NOW,
        }
        for item_id in item_ids
    ]
    events = [
        {
            "project_id": project_id,
            "actor": ACTORS[i % len(ACTORS)],
            "action": "item.routed",
            "entity_type": "item",
            "entity_id": str(item_id),
            "before": None,
            "after": {"route": "human", "confidence": None, "reasons": ["x"]},
            "created_at": NOW,
        }
        for i, item_id in enumerate(item_ids)
    ]
    return {
        PredictionRow: predictions,
        DecisionRow: decisions,
        ReviewTaskRow: tasks,
        AuditEventRow: events,
    }


@pytest.mark.parametrize("n", SIZES)
def test_every_table_gets_the_rows_the_orm_wrote(lw: Loopwise, n: int) -> None:
    project = make_text_project(lw)
    old_items = orm_insert(lw, ItemRow, item_rows(project.id, "orm", n))
    new_items = bulk_insert(lw, ItemRow, item_rows(project.id, "bulk", n))
    assert stored(lw, "item", new_items) == stored(lw, "item", old_items)
    assert [r["external_id"] for r in rows(lw, "item")] == [
        *(f"orm-{i}" for i in range(n)),
        *(f"bulk-{i}" for i in range(n)),
    ]

    old, new = dependent_rows(project.id, old_items), dependent_rows(project.id, new_items)
    for entity in (PredictionRow, DecisionRow, ReviewTaskRow):
        table = entity.__tablename__
        old_ids = orm_insert(lw, entity, old[entity])
        new_ids = bulk_insert(lw, entity, new[entity])
        assert len(new_ids) == n
        assert [r["item_id"] for r in rows(lw, table) if r["id"] in new_ids] == new_items
        assert stored(lw, table, new_ids) == stored(lw, table, old_ids), table
    decisions = rows(lw, "decision")
    assert {d["origin"] for d in decisions} == {"routed"}  # the column's default
    assert {d["final_label"] for d in decisions} == {"ham", None}
    assert rows(lw, "review_task")[-1]["skips"] == 0

    before = {r["id"] for r in rows(lw, "audit_event")}
    orm_insert(lw, AuditEventRow, old[AuditEventRow])
    middle = {r["id"] for r in rows(lw, "audit_event")}
    with lw.ctx.write() as tx:
        tx.repo.audit_many(new[AuditEventRow])
    after = {r["id"] for r in rows(lw, "audit_event")}
    old_ids, new_ids = sorted(middle - before), sorted(after - middle)
    assert stored(lw, "audit_event", new_ids) == stored(lw, "audit_event", old_ids)
    assert json_nulls(lw, new_ids) == json_nulls(lw, old_ids) == [(False, False)] * n


@pytest.mark.parametrize("n", SIZES)
def test_reserved_ids_are_new_increasing_and_kept(lw: Loopwise, n: int) -> None:
    project = make_text_project(lw)
    first = bulk_insert(lw, ItemRow, item_rows(project.id, "a", 2))
    with lw.ctx.write() as tx:
        reserved = tx.repo.reserve_ids({ItemRow: n, PredictionRow: 0, DecisionRow: 1})
        assert reserved is not None
        assert reserved[PredictionRow] == []
        ids = reserved[ItemRow]
        assert ids == sorted(set(ids))
        assert len(ids) == n
        assert ids[0] > max(first)
        values = [
            {**row, "id": i} for row, i in zip(item_rows(project.id, "b", n), ids, strict=True)
        ]
        assert tx.repo.insert_many(ItemRow, values) == ids
    with lw.ctx.engine.connect() as conn:
        stored_ids = dict(conn.execute(select(ItemRow.external_id, ItemRow.id)).all())
    assert [stored_ids[f"b-{i}"] for i in range(n)] == ids
    later = bulk_insert(lw, ItemRow, item_rows(project.id, "c", 1))
    assert later[0] > ids[-1]


def pool_rows(project_id: int, prefix: str, n: int) -> list[dict[str, Any]]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "project_id": project_id,
            "external_id": f"{prefix}-{i}",
            "payload": {"text": f"{prefix} {i}"},
            "payload_sha256": "0" * 64,
            "meta": {},
            "created_at": now,
        }
        for i in range(n)
    ]


def test_ids_reserved_with_others_pass_every_id_a_removal_freed(lw: Loopwise) -> None:
    """Pool items (declared ``AUTOINCREMENT`` on SQLite) never get a removed one's id back,
    reserved in one query with another table's; the items of a table without it continue
    from the largest they hold."""
    project = make_text_project(lw)
    with lw.ctx.write() as tx:
        pool_ids = tx.repo.insert_many(PoolItemRow, pool_rows(project.id, "p", 3))
        item_ids = tx.repo.insert_many(ItemRow, item_rows(project.id, "a", 2))
        tx.session.execute(text("DELETE FROM pool_item WHERE id >= :i"), {"i": pool_ids[1]})
    with lw.ctx.write() as tx:
        reserved = tx.repo.reserve_ids({PoolItemRow: 2, ItemRow: 1})
        assert reserved is not None
        assert reserved[PoolItemRow][0] > pool_ids[-1]
        assert reserved[ItemRow] == [item_ids[-1] + 1]
        again = tx.repo.insert_many(PoolItemRow, pool_rows(project.id, "q", 2))
    assert min(again) > pool_ids[-1]


@pytest.mark.parametrize("n", SIZES)
def test_a_refused_row_raises_an_integrity_error_and_writes_nothing(lw: Loopwise, n: int) -> None:
    project = make_text_project(lw)
    bulk_insert(lw, ItemRow, item_rows(project.id, "x", 1))
    with nothing_written(lw), pytest.raises(IntegrityError):
        bulk_insert(lw, ItemRow, item_rows(project.id, "x", n))  # x-0 exists already


def test_a_key_that_is_no_column_is_refused(lw: Loopwise) -> None:
    project = make_text_project(lw)
    values = item_rows(project.id, "y", 2)
    values[1]["colour"] = "red"
    with nothing_written(lw), pytest.raises(ValueError, match="no column 'colour'"):
        bulk_insert(lw, ItemRow, values)
