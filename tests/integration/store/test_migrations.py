"""Schema migrations: an empty database reaches head, re-running is harmless, ORM and DDL agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, inspect, select, text

from loopwise import Loopwise, Settings
from loopwise.store.db import (
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from loopwise.store.tables import SET_CHECKED_KEYS, Base
from loopwise.testing import FrozenClock
from tests.databases import BACKENDS, empty_database
from tests.factories import make_text_project, seed_rows
from tests.integration.helpers import nothing_written, row_counts

TABLES = {
    "project",
    "item",
    "prediction",
    "decision",
    "review_task",
    "review",
    "label",
    "golden_item",
    "model_version",
    "audit_event",
    "calibration",
    "reviewer",
    "project_member",
    "honeypot",
    "api_token",
    "webhook",
    "webhook_message",
    "pool_item",
    "released_claim",
}


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (nothing migrated yet), where the shared fixture gives a migrated one:
    these tests run the migrations themselves."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database (nothing migrated yet)."""
    eng = make_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_the_orm_knows_every_table() -> None:
    assert set(Base.metadata.tables) == TABLES


def test_an_empty_database_is_upgraded_to_head_matching_the_orm(engine: Engine) -> None:
    assert table_names(engine) == set()
    assert current_revision(engine) is None

    upgrade(engine)

    assert head_revision() == "0013_claim_keys"
    assert current_revision(engine) == head_revision()
    assert table_names(engine) == TABLES | {"alembic_version"}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert without_set_checked_keys(engine, differences) == []


def without_set_checked_keys(engine: Engine, differences: list[Any]) -> list[Any]:
    """The differences, less the foreign keys PostgreSQL checks by triggers instead (exactly
    those: ``SET_CHECKED_KEYS``)."""
    if engine.dialect.name != "postgresql":
        return differences
    keys = {(t, c, r) for t, c, r in SET_CHECKED_KEYS}
    found = {
        (d[1].parent.name, d[1].column_keys[0], d[1].referred_table.name)
        for d in differences
        if d[0] == "add_fk"
    }
    assert found == keys
    return [d for d in differences if d[0] != "add_fk"]


def test_ensure_schema_is_idempotent(lw: Loopwise, settings: Settings, clock: FrozenClock) -> None:
    make_text_project(lw)
    lw.import_labels("sms", seed_rows())

    with nothing_written(lw):
        ensure_schema(lw.ctx.engine)
        ensure_schema(lw.ctx.engine)
        with Loopwise(settings, clock=clock) as again:
            assert [p.name for p in again.projects()] == ["sms"]

    assert current_revision(lw.ctx.engine) == head_revision()
    with lw.ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(text("alembic_version"))) == 1
    assert row_counts(lw)["label"] == 24


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    upgrade(engine)
    config = alembic_config(engine)

    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    assert table_names(engine) == {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert table_names(engine) == TABLES | {"alembic_version"}
    assert current_revision(engine) == head_revision()


def _insert_project(conn: Connection, now: str) -> None:
    """One text project (id 1) written with raw SQL, as an older schema stores it."""
    conn.execute(
        text(
            "INSERT INTO project (id, name, labels, input_kind, feature_names, routing, "
            "training, error_taxonomy, guideline, created_at) VALUES (1, 'p', '[\"a\",\"b\"]', "
            "'text', '[]', '{}', '{}', '[]', '', :now)"
        ),
        {"now": now},
    )


def test_0002_marks_imported_ground_truth_and_keeps_routed_items(
    engine: Engine, database_url: str, tmp_path: object
) -> None:
    """Data written under 0001 gets the right decision origin when upgraded to 0002."""
    upgrade(engine, "0001_initial_schema")
    now = "2026-01-01 00:00:00+00:00"
    with engine.begin() as conn:
        _insert_project(conn, now)
        for item_id, status in ((1, "resolved"), (2, "queued")):
            conn.execute(
                text(
                    "INSERT INTO item (id, project_id, external_id, payload, payload_sha256, "
                    "metadata, status, created_at, updated_at) VALUES (:id, 1, :ext, "
                    "'{\"text\": \"x\"}', 'h', '{}', :status, :now, :now)"
                ),
                {"id": item_id, "ext": f"e{item_id}", "status": status, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO decision (id, project_id, item_id, route, reasons, final_label, "
                    "decided_by, policy_version, created_at) VALUES (:id, 1, :id, 'human', '[]', "
                    ":label, :by, 1, :now)"
                ),
                {
                    "id": item_id,
                    "label": "a" if status == "resolved" else None,
                    "by": "import" if status == "resolved" else None,
                    "now": now,
                },
            )
        conn.execute(
            text(
                "INSERT INTO review_task (id, project_id, item_id, stage, priority, "
                "priority_score, status, required_reviews, created_at) VALUES "
                "(1, 1, 2, 'review', 2, 1.0, 'open', 1, :now)"
            ),
            {"now": now},
        )
    ensure_schema(engine)
    assert current_revision(engine) == head_revision() == "0013_claim_keys"
    with engine.connect() as conn:
        origins: dict[int, str] = {
            row[0]: row[1] for row in conn.execute(text("SELECT item_id, origin FROM decision"))
        }
    assert origins == {1: "import", 2: "routed"}


def test_a_populated_0002_database_upgrades_with_its_foreign_keys_intact(engine: Engine) -> None:
    """0003 rebuilds ``prediction`` on SQLite (a new foreign key) while ``decision`` rows point
    at it: the upgrade must succeed, keep every row, and leave foreign keys enforced."""
    upgrade(engine, "0002_decision_origin")
    now = "2026-01-01 00:00:00+00:00"
    with engine.begin() as conn:
        _insert_project(conn, now)
        conn.execute(
            text(
                "INSERT INTO item (id, project_id, external_id, payload, payload_sha256, "
                "metadata, status, created_at, updated_at) VALUES (1, 1, 'e1', "
                "'{\"text\": \"x\"}', 'h', '{}', 'decided', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO prediction (id, project_id, item_id, probabilities, "
                "predicted_label, confidence, uncertainty, created_at) VALUES "
                "(1, 1, 1, '[0.9, 0.1]', 'a', 0.9, 0.47, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO decision (id, project_id, item_id, prediction_id, route, origin, "
                "reasons, final_label, decided_by, policy_version, created_at) VALUES "
                "(1, 1, 1, 1, 'auto', 'routed', '[]', 'a', 'model:v1', 1, :now)"
            ),
            {"now": now},
        )
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT prediction_id, rules FROM decision")).one()[0] == 1
        assert conn.execute(text("SELECT count(*) FROM prediction")).scalar() == 1
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_0010_keeps_the_pool_and_never_gives_a_removed_candidates_id_again(
    engine: Engine,
) -> None:
    """0010 copies ``pool_item`` on SQLite into a table declared ``AUTOINCREMENT``, ids kept,
    its partial index made again: once the newest candidate is removed, the next one added
    takes a new id (the feature store keeps features by id). On PostgreSQL it changes nothing:
    a sequence never gives an id twice."""
    upgrade(engine, "0009_set_checked_keys")
    now = "2026-01-01 00:00:00+00:00"
    pool_row = (
        "INSERT INTO pool_item ({id}project_id, external_id, payload, payload_sha256, metadata, "
        "created_at) VALUES ({value}1, :e, '{{\"text\": \"x\"}}', 'h', '{{}}', :now)"
    )
    with engine.begin() as conn:
        _insert_project(conn, now)
        for pool_id in (1, 2, 7):
            conn.execute(
                text(pool_row.format(id="id, ", value=f"{pool_id}, ")),
                {"e": f"e{pool_id}", "now": now},
            )
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('pool_item', 'id'), 7)"))

    ensure_schema(engine)

    with engine.begin() as conn:
        assert conn.execute(text("SELECT id FROM pool_item ORDER BY id")).scalars().all() == [
            1,
            2,
            7,
        ]
        conn.execute(text("DELETE FROM pool_item WHERE id = 7"))
        conn.execute(text(pool_row.format(id="", value="")), {"e": "new", "now": now})
        new_id = conn.execute(text("SELECT id FROM pool_item WHERE external_id = 'new'")).scalar()
    assert new_id == 8
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("pool_item")}
    assert indexes["ix_pool_item_waiting"]["column_names"] == ["project_id", "id"]
    assert indexes["ix_pool_item_chosen"]["column_names"] == ["project_id", "id"]  # 0011
