"""Schema migrations: an empty database reaches head, re-running is harmless, ORM and DDL agree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from loopwise import Loopwise, Settings
from loopwise.store.db import (
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from loopwise.store.tables import Base
from loopwise.testing import FrozenClock
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
}


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

    assert head_revision() == "0001_initial_schema"
    assert current_revision(engine) == head_revision()
    assert table_names(engine) == TABLES | {"alembic_version"}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


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
