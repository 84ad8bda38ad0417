"""Write transactions on SQLite take turns in the process before they ask SQLite for its lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from loopwise import Loopwise, Settings
from loopwise.testing import FrozenClock


@pytest.fixture
def sqlite_lw(tmp_path: Path) -> Iterator[Loopwise]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'lw.db'}")
    with Loopwise(settings, clock=FrozenClock()) as lw:
        yield lw


def count_write_begins(lw: Loopwise) -> list[str]:
    """Threads that sent ``BEGIN IMMEDIATE`` (asked SQLite for the write lock), in order."""
    begun: list[str] = []

    @event.listens_for(lw.ctx.engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            begun.append(threading.current_thread().name)

    return begun


class TestSqliteWriters:
    def test_a_second_writer_waits_its_turn_before_asking_sqlite(self, sqlite_lw: Loopwise) -> None:
        begun = count_write_begins(sqlite_lw)
        holding, release = threading.Event(), threading.Event()
        finished: list[str] = []

        def first() -> None:
            with sqlite_lw.ctx.write() as tx:
                tx.repo.session.execute(text("SELECT 1"))  # begins: takes SQLite's write lock
                holding.set()
                release.wait(10)
            finished.append("first")

        def second() -> None:
            holding.wait(10)
            with sqlite_lw.ctx.write() as tx:
                tx.repo.session.execute(text("SELECT 1"))
                finished.append("second began")
            finished.append("second")

        threads = [
            threading.Thread(target=first, name="first"),
            threading.Thread(target=second, name="second"),
        ]
        for t in threads:
            t.start()
        assert holding.wait(10)
        time.sleep(0.3)  # the second writer is waiting by now
        assert begun == ["first"]  # it waits in the process, not polling SQLite's lock
        assert finished == []
        release.set()
        for t in threads:
            t.join(10)
        assert begun == ["first", "second"]
        assert finished == ["first", "second began", "second"]

    def test_many_writers_each_get_a_turn(self, sqlite_lw: Loopwise) -> None:
        sqlite_lw.create_project("sms", ["ham", "spam"])
        start = threading.Barrier(8)

        def submit(k: int) -> None:
            start.wait(10)
            for i in range(5):
                sqlite_lw.submit(
                    "sms",
                    [{"payload": f"text {k}-{i}", "external_id": f"{k}-{i}",
                      "probabilities": [0.5, 0.5]}],
                )  # fmt: skip

        threads = [threading.Thread(target=submit, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert len(sqlite_lw.queue("sms", limit=100)) == 40
