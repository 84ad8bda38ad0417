"""Engine creation, schema migrations (run automatically on first use of a database) and fresh
planner statistics on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
STATISTICS_SLACK = 100
"""Rows a table may gain beyond doubling before :func:`fresh_statistics` samples it."""
PG_MIGRATION_LOCK = 7_201_511  # advisory lock key: one process migrates at a time


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    """Create an engine for ``url`` with loopwise's connection settings.

    ``pool_size`` connections are kept open, and as many again may be opened for a burst
    (closed when they come back to a full pool).

    SQLite: the file's directory is created, WAL journal, foreign keys on, a 30 s busy timeout,
    and transactions begun by loopwise itself so write use cases can take the write lock up
    front (``BEGIN IMMEDIATE``, see :func:`writer`) instead of failing on a lock upgrade.
    """
    json = {"json_serializer": json_text, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30}, **json)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, **json)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 5.0
"""A pooled connection idle longer than this is tested before use."""


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection on checkout only when it sat idle in the pool for a while.

    SQLAlchemy's ``pool_pre_ping`` tests every checkout: a round trip per transaction, about
    0.15 ms of a 3 ms claim. A connection checked in moments ago is alive unless the server
    restarted since; then its first statement fails, and SQLAlchemy invalidates it and every
    connection older than the failure, so the next transaction reconnects. One that waited
    longer (a quiet service, a database restarted overnight) is pinged, and replaced if dead.
    """

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["loopwise_idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("loopwise_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("connection failed its ping; reconnecting") from exc


def json_text(value: Any) -> str:
    """JSON columns' text, by orjson: about ten times faster than ``json.dumps``, which an
    ingest of 1,000 items called some 5,000 times (payloads, probabilities, reasons, audit
    events). Compact; dictionary keys need not be strings (as with ``json.dumps``)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_SAMPLED_UP_TO: dict[tuple[str, str], int] = {}
"""``(database, table) -> largest id`` when this process last sampled the table."""


def fresh_statistics(engine: Engine, tables: Sequence[Table]) -> list[str]:
    """PostgreSQL: sample again (``ANALYZE``) each of ``tables`` that may have more than
    doubled since it was last sampled, and name those sampled. Nothing on SQLite, which plans
    by its indexes.

    Autovacuum samples a table once a tenth of it changed, but up to a minute later (and never
    where it is off, as on the server the figures below come from); a plan made meanwhile on
    the older figures can be ruinous. The pool query's anti-join against
    the project's items, planned right after a bulk load (100,000 candidates thought none,
    600 items thought four), compared every candidate with every item: 4.2 s, against 7 ms
    for 20,000 once the tables were sampled (``EXPLAIN ANALYZE``).

    "May have doubled": the table's largest ``id`` is past twice the rows counted when it was
    last sampled (``pg_class.reltuples``; never sampled counts as none), or twice its largest
    id when this process last sampled it (ids burnt by rolled-back inserts leave gaps, which
    must not make every call sample again), plus :data:`STATISTICS_SLACK`. Ids only grow, so
    the largest bounds the rows from above. Two index lookups a table; its own short
    transaction."""
    if engine.dialect.name != "postgresql" or not tables:
        return []
    database = engine.url.render_as_string(hide_password=True)
    stale: list[tuple[str, int]] = []
    with engine.connect() as connection:
        for table in tables:
            counted = connection.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"),
                {"name": table.name},
            ).scalar()
            newest = int(connection.execute(select(func.max(table.c.id))).scalar() or 0)
            known = max(float(counted or 0.0), 0.0, _SAMPLED_UP_TO.get((database, table.name), 0))
            if counted is not None and newest > 2 * known + STATISTICS_SLACK:
                stale.append((table.name, newest))
        quote = engine.dialect.identifier_preparer.quote
        for name, _ in stale:
            connection.execute(text(f"ANALYZE {quote(name)}"))
        connection.commit()
    _SAMPLED_UP_TO.update(((database, name), newest) for name, newest in stale)
    return [name for name, _ in stale]


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite opens its transactions with BEGIN IMMEDIATE."""
    return engine.execution_options(loopwise_write=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("loopwise_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``.

    On PostgreSQL an advisory lock keeps several workers starting at once from migrating twice.
    On SQLite, Alembic rebuilds a table to change its constraints, which foreign keys from other
    tables' rows would refuse; foreign keys are off while migrating (the SQLite documentation's
    procedure for schema changes) and ``PRAGMA foreign_key_check`` must find nothing before the
    migration commits.
    """
    config = alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.dbapi_connection
        if sqlite:
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")  # only takes effect outside a transaction
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK}
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def ensure_schema(engine: Engine) -> None:
    """Run pending migrations if the database is behind; cheap when it is current."""
    if current_revision(engine) != head_revision():
        upgrade(engine)
