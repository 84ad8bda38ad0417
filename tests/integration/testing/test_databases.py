"""The tests' databases (``tests/databases.py``): a copy of the migrated template is the database
the migrations make, on both backends, and each test's copy is its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from loopwise import Loopwise, Settings
from loopwise.store.db import current_revision, ensure_schema, head_revision, make_engine
from tests.databases import BACKENDS, PREFIX, empty_database, migrated_database


def described(url: str) -> dict[str, Any]:
    """What a database holds that the migrations made: each table's columns, keys, indexes and
    constraints (as sets: SQLite's table rebuilds write a table's constraints in no set order),
    the revision, and on PostgreSQL the triggers, functions (the schema's own name
    in their settings masked) and sequences' positions."""
    engine = make_engine(url)
    try:
        return _described(engine)
    finally:
        engine.dispose()


def _described(engine: Engine) -> dict[str, Any]:
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        tables[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ],
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (tuple(k["constrained_columns"]), k["referred_table"], str(k.get("options")))
                for k in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (
                    i["name"],
                    tuple(map(str, i["column_names"])),
                    i["unique"],
                    sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()),
                )
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (str(u["name"]), tuple(u["column_names"]))
                for u in found.get_unique_constraints(table)
            ),
            "checks": sorted(str(c["sqltext"]) for c in found.get_check_constraints(table)),
        }
    described: dict[str, Any] = {"tables": tables, "revision": current_revision(engine)}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            described["triggers"] = sorted(
                conn.execute(
                    text(
                        "SELECT t.tgrelid::regclass::text, t.tgname, p.proname, t.tgtype "
                        "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                        "WHERE NOT t.tgisinternal AND p.pronamespace = "
                        "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
                    )
                ).all()
            )
            described["functions"] = sorted(
                (name, source, str(config).replace(schema, "<schema>"))
                for name, source, config in conn.execute(
                    text(
                        "SELECT proname, prosrc, proconfig FROM pg_proc WHERE pronamespace = "
                        "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
                    )
                ).all()
            )
            sequences = conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
            ).scalars()
            described["sequences"] = sorted(
                (name, *conn.execute(text(f'SELECT last_value, is_called FROM "{name}"')).one())
                for name in sequences
            )
    return described


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_copy_of_the_template_is_what_the_migrations_make(backend: str, tmp_path: Path) -> None:
    (tmp_path / "copy").mkdir()
    (tmp_path / "migrated").mkdir()
    with (
        migrated_database(backend, tmp_path / "copy") as copy,
        empty_database(backend, tmp_path / "migrated") as migrated,
    ):
        engine = make_engine(migrated)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()
        made = described(migrated)
        assert made["revision"] == head_revision()
        assert len(made["tables"]) > 10
        if backend == "postgres":
            assert made["triggers"]
            assert made["functions"]
            assert made["sequences"]
        assert described(copy) == made


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_copy_is_its_own_and_a_postgres_copy_is_dropped(backend: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        migrated_database(backend, tmp_path / "a") as first,
        migrated_database(backend, tmp_path / "b") as second,
    ):
        assert first != second
        with Loopwise(Settings(database_url=first, data_dir=tmp_path / "a")) as lw:
            lw.create_project("p", ["a", "b"])
        with Loopwise(Settings(database_url=second, data_dir=tmp_path / "b")) as lw:
            assert lw.projects() == []
    if backend == "postgres":
        schema = first.rsplit("search_path%3D", 1)[1]
        assert schema.startswith(PREFIX)
        engine = make_engine(second.rsplit("?", 1)[0])
        try:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
                ).scalar()
        finally:
            engine.dispose()
        assert left == 0
