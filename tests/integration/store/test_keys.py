"""The foreign keys of ``SET_CHECKED_KEYS`` hold on both backends: a row that points nowhere,
a key changed to point nowhere, a referenced row deleted or renumbered, are all refused
(PostgreSQL checks them by statement triggers, SQLite by its foreign keys), in bulk and one row
at a time, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from loopwise import Loopwise
from loopwise.store.bulk import COPY_MIN_ROWS
from loopwise.store.tables import (
    SET_CHECKED_KEYS,
    Base,
    CalibrationRow,
    DecisionRow,
    ItemRow,
    ModelVersionRow,
    PredictionRow,
    ProjectRow,
)
from tests.factories import make_text_project, seeded_model, text_items
from tests.integration.helpers import nothing_written
from tests.integration.store.test_bulk import NOW, dependent_rows, item_rows

ENTITIES: dict[str, type[Any]] = {
    "project": ProjectRow,
    "item": ItemRow,
    "prediction": PredictionRow,
    "decision": DecisionRow,
    "model_version": ModelVersionRow,
    "calibration": CalibrationRow,
}
MISSING = 987_654_321


@pytest.fixture
def routed(lw: Loopwise) -> Loopwise:
    """A project with a promoted model, calibrated, and items predicted and routed by it."""
    make_text_project(lw)
    seeded_model(lw)
    lw.submit("sms", text_items(["free prize now", "see you at lunch"] * 3))
    return lw


def _some(lw: Loopwise, table: str, having: str = "id") -> dict[str, Any]:
    """The first row of ``table`` whose ``having`` is set."""
    query = text(f"SELECT * FROM {table} WHERE {having} IS NOT NULL ORDER BY id LIMIT 1")
    with lw.ctx.engine.connect() as conn:
        row = conn.execute(query).mappings().one()
    return dict(row)


def _rows(lw: Loopwise, table: str, n: int, prefix: str) -> list[dict[str, Any]]:
    """``n`` new rows of ``table`` with every key pointing at rows that exist."""
    project_id = _some(lw, "project")["id"]
    if table == "item":
        return item_rows(project_id, prefix, n)
    item_ids = [_some(lw, "item")["id"]] * n
    values = dependent_rows(project_id, item_ids)[ENTITIES[table]]
    if table == "prediction":
        prediction = _some(lw, "prediction", having="calibration_id")
        for row in values:
            row["model_version_id"] = prediction["model_version_id"]
            row["calibration_id"] = prediction["calibration_id"]
    if table == "decision":  # one decision per item: new items for them
        with lw.ctx.write() as tx:
            fresh = tx.repo.insert_many(ItemRow, item_rows(project_id, f"{prefix}-item", n))
        for row, item_id in zip(values, fresh, strict=True):
            row["item_id"] = item_id
            row["prediction_id"] = _some(lw, "prediction")["id"]
    return values


def test_every_set_checked_key_is_declared_on_the_orm() -> None:
    for table, column, target in SET_CHECKED_KEYS:
        keys = Base.metadata.tables[table].c[column].foreign_keys
        assert {(k.column.table.name, k.column.name) for k in keys} == {(target, "id")}


@pytest.mark.parametrize("n", [1, COPY_MIN_ROWS + 5], ids=["insert", "copy"])
@pytest.mark.parametrize(("table", "column", "target"), SET_CHECKED_KEYS)
def test_a_row_pointing_nowhere_is_refused(
    routed: Loopwise, table: str, column: str, target: str, n: int
) -> None:
    with routed.ctx.write() as tx:  # such rows with every key intact go in
        tx.repo.insert_many(ENTITIES[table], _rows(routed, table, n, "good"))
    values = _rows(routed, table, n, "bad")
    values[-1][column] = MISSING
    refused = pytest.raises(IntegrityError, match=f"fk_{table}_{column}_{target}|FOREIGN KEY")
    with nothing_written(routed), refused, routed.ctx.write() as tx:
        tx.repo.insert_many(ENTITIES[table], values)


@pytest.mark.parametrize(("table", "column", "target"), SET_CHECKED_KEYS)
def test_a_key_changed_to_point_nowhere_is_refused(
    routed: Loopwise, table: str, column: str, target: str
) -> None:
    entity = ENTITIES[table]
    row_id = _some(routed, table, having=column)["id"]
    with nothing_written(routed), pytest.raises(IntegrityError), routed.ctx.write() as tx:
        tx.session.execute(update(entity).where(entity.id == row_id).values({column: MISSING}))


@pytest.mark.parametrize(("table", "column", "target"), SET_CHECKED_KEYS)
def test_a_referenced_row_cannot_be_deleted_or_renumbered(
    routed: Loopwise, table: str, column: str, target: str
) -> None:
    referenced = _some(routed, table, having=column)[column]
    entity = ENTITIES[target]
    with nothing_written(routed), pytest.raises(IntegrityError), routed.ctx.write() as tx:
        tx.session.execute(delete(entity).where(entity.id == referenced))
    with nothing_written(routed), pytest.raises(IntegrityError), routed.ctx.write() as tx:
        tx.session.execute(update(entity).where(entity.id == referenced).values(id=MISSING))


def test_unchanged_keys_and_unreferenced_rows_pass(routed: Loopwise) -> None:
    """Updates that leave the keys alone (status changes: every verdict makes one) and
    deleting a row nothing points at go through."""
    item_id = _some(routed, "item")["id"]
    with routed.ctx.write() as tx:
        tx.session.execute(
            update(ItemRow).where(ItemRow.id == item_id).values(status="decided", updated_at=NOW)
        )
        lonely = tx.repo.insert_many(ItemRow, item_rows(_some(routed, "project")["id"], "z", 1))
    with routed.ctx.write() as tx:
        tx.session.execute(delete(ItemRow).where(ItemRow.id == lonely[0]))


def test_the_checks_find_their_tables_from_any_search_path(routed: Loopwise) -> None:
    """PostgreSQL: the trigger functions keep the migration's search path, as a foreign key
    keeps its table; a session whose path lacks the schema is checked the same."""
    engine = routed.ctx.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has foreign keys, bound to their tables")
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    item_id = _some(routed, "item")["id"]
    insert = text(
        f'INSERT INTO "{schema}".prediction (project_id, item_id, probabilities, confidence, '
        "uncertainty, created_at) VALUES (1, :item, '[0.5, 0.5]', 0.5, 1.0, now())"
    )
    with engine.connect() as conn:
        conn.exec_driver_sql("SET search_path TO public")
        conn.execute(insert, {"item": item_id})  # found, although "item" is not on the path
        with pytest.raises(IntegrityError, match="fk_prediction_item_id_item"):
            conn.execute(insert, {"item": MISSING})
        conn.rollback()
