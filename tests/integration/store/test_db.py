"""Engine settings: pooled PostgreSQL connections are tested only after sitting idle, and a
server that dropped them costs a reconnect, not a failed use case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from loopwise import Loopwise, Settings
from loopwise.store import db
from tests.databases import POSTGRES_URL, empty_database

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs LOOPWISE_TEST_POSTGRES_URL")


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Loopwise]:
    with empty_database("postgres", tmp_path) as url:
        app = Loopwise(Settings(data_dir=tmp_path, database_url=url))
        try:
            yield app
        finally:
            app.close()


def pings(monkeypatch: pytest.MonkeyPatch, app: Loopwise) -> list[int]:
    """Count the pings of ``app``'s engine."""
    calls: list[int] = []
    real = app.ctx.engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        calls.append(1)
        return bool(real(dbapi_connection))

    monkeypatch.setattr(app.ctx.engine.dialect, "do_ping", counted)
    return calls


def kill_connection(app: Loopwise) -> None:
    """Terminate the server side of ``app``'s pooled connection (what a server restart does,
    as its clients see it), leaving it in the pool."""
    with app.ctx.engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


def test_a_connection_used_moments_ago_is_not_pinged(
    pg: Loopwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = pings(monkeypatch, pg)
    pg.create_project("p", ["a", "b"])
    for _ in range(5):
        pg.project("p")
    assert calls == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    pg: Loopwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg.create_project("p", ["a", "b"])
    calls = pings(monkeypatch, pg)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    assert pg.project("p").name == "p"
    assert len(calls) == 1

    kill_connection(pg)
    assert len(calls) == 2  # the connection that read its pid
    assert pg.project("p").name == "p"  # the dead connection failed its ping: a new one
    assert len(calls) == 3
