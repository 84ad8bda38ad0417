"""The review path's statements keep good plans when PostgreSQL reuses a generic plan.

psycopg prepares a statement after five executions, and PostgreSQL then may switch to a plan
made without the parameters' values. A check written ``EXISTS (... promote_at <= $1)`` got a
generic plan that read the whole queue to find nothing (10 ms a claim at 100,000 open tasks);
these tests plan each hot statement generically on a queue with statistics and refuse a scan of
the task table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from loopwise import Loopwise, Settings
from loopwise.store import people, writes
from loopwise.store import queue as q
from tests.databases import POSTGRES_URL, empty_database

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs LOOPWISE_TEST_POSTGRES_URL")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loopwise]:
    """A project with 3,000 open tasks, some answered, and fresh statistics."""
    tmp: Path = tmp_path_factory.mktemp("plans")
    with empty_database("postgres", tmp) as url:
        app = Loopwise(Settings(data_dir=tmp, database_url=url))
        try:
            app.create_project("p", ["ok", "flag"], routing={"ood": None, "calibration": "none"})
            app.add_reviewer("r", projects=["p"], max_open_tasks=100)
            app.submit(
                "p",
                [
                    {"external_id": f"i{i}", "payload": f"t {i}", "probabilities": [0.6, 0.4]}
                    for i in range(3000)
                ],
            )
            for _ in range(30):
                entry = app.claim_next("p", "r")
                assert entry is not None
                app.submit_verdict("p", entry.task.id, "r", "approve")
            with app.ctx.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            yield app
        finally:
            app.close()


def generic_plan(app: Loopwise, statement: Any, params: dict[str, Any]) -> str:
    """EXPLAIN of ``statement`` prepared and planned without its parameters' values."""
    dialect: Any = postgresql.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect)
    bound = compiled.construct_params(params)
    values = [bound[name] for name in compiled.positiontup]
    with app.ctx.engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
            cursor.execute(sql.SQL("PREPARE hot AS ") + sql.SQL(str(compiled)))
            arguments = sql.SQL(", ").join(
                sql.Literal(Jsonb(v) if isinstance(v, dict) else v) for v in values
            )
            cursor.execute(sql.SQL("EXPLAIN EXECUTE hot({})").format(arguments))
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("DEALLOCATE hot")
        conn.rollback()
    return plan


def scans(plan: str, table: str) -> bool:
    """Whether ``plan`` reads the whole of ``table``."""
    return re.search(rf"Seq Scan on {table}\b", plan) is not None


def project_id(app: Loopwise) -> int:
    return app.project("p").id


def test_the_claims_checks(queue: Loopwise) -> None:
    params = {"project": "p", "reviewer": "r", "now": NOW, "midnight": NOW}
    plan = generic_plan(queue, people.people_query(lock=False, checks=True), params)
    assert not scans(plan, "review_task"), plan


def test_the_claim(queue: Loopwise) -> None:
    params = {
        "b_project": project_id(queue),
        "b_stage": "review",
        "b_reviewer": "r",
        "b_now": NOW,
        "b_expires": NOW + timedelta(minutes=5),
        "b_before": None,
        "b_after": {"lease_expires_at": "x"},
        "b_key": None,
    }
    plan = generic_plan(queue, q._claim(tags=False, shown=True), params)
    assert not scans(plan, "review_task"), plan
    assert "Index Scan using ix_review_task_serve" in plan, plan


def test_the_verdicts_read(queue: Loopwise) -> None:
    params = {"task_id": 5, "project": "p", "reviewer": "r"}
    plan = generic_plan(queue, q._held(people=True, reserve=True), params)
    assert not scans(plan, "review_task"), plan


def test_the_verdicts_writes(queue: Loopwise) -> None:
    """Every part of the common verdict reaches its rows by key."""
    plan = generic_plan(
        queue,
        writes._together(("decision", "item", "task", "requeue", "session")),
        {
            "decision__item_id": 1,
            "decision__final_label": "ok",
            "decision__decided_by": "r",
            "decision__now": NOW,
            "item__id": 1,
            "item__now": NOW,
            "task__id": 1,
            "task__now": NOW,
            "requeue__id": 2,
            "session__id": 1,
            "session__session_started_at": NOW,
            "session__session_last_at": NOW,
            "session__session_count": 1,
        },
    )
    for table in ("review_task", "item", "decision", "review"):
        assert not scans(plan, table), plan
