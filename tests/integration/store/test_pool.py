"""The pool's statements: which candidates a query chooses from (and how many wait), payloads
read by id, and (on PostgreSQL) a plan that probes the items' unique index per candidate
whatever the statistics."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text

from loopwise import Loopwise
from loopwise.core.payloads import payload_digest
from loopwise.store import pool as store_pool
from loopwise.store.tables import ItemRow, PoolItemRow
from tests.factories import make_text_project
from tests.integration.helpers import rows


def candidates(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"external_id": f"c{i}", "payload": f"text {i}"} for i in range(start, start + n)]


def pool_ids(lw: Loopwise) -> dict[str, int]:
    return {r["external_id"]: r["id"] for r in rows(lw, "pool_item")}


@pytest.mark.parametrize("other_items", [0, 10])
def test_waiting_candidates_leave_out_the_chosen_and_the_submitted(
    lw: Loopwise, other_items: int
) -> None:
    """On SQLite, with fewer items than unchosen candidates those submitted are found from
    the items; with more (10 other items against 5), by the anti-join: the same candidates
    either way (PostgreSQL runs the anti-join in both)."""
    project = make_text_project(lw)
    lw.add_to_pool("sms", candidates(6))
    lw.submit("sms", [{"external_id": "c2", "payload": "text 2"}])  # sent as an item meanwhile
    if other_items:
        lw.submit(
            "sms", [{"external_id": f"i{i}", "payload": f"i {i}"} for i in range(other_items)]
        )
    ids = pool_ids(lw)
    with lw.ctx.write() as tx:  # as if a query had chosen c4
        tx.session.execute(
            text("UPDATE pool_item SET item_id = :i WHERE id = :p"),
            {"i": rows(lw, "item")[0]["id"], "p": ids["c4"]},
        )
    with lw.ctx.read() as tx:
        waiting = store_pool.candidate_ids(tx.session, project.id)
        expected = sorted(
            int(i) for i in tx.session.execute(store_pool.waiting_candidates(project.id)).scalars()
        )
        counts = store_pool.pool_counts(tx.session, project.id)
    assert waiting.tolist() == sorted(ids[c] for c in ("c0", "c1", "c3", "c5")) == expected
    assert waiting.dtype == np.int64
    assert counts == (4, 1)  # counted the same way: waiting, chosen


def test_no_candidate_waiting_is_an_empty_array(lw: Loopwise) -> None:
    project = make_text_project(lw)
    with lw.ctx.read() as tx:
        before = store_pool.candidate_ids(tx.session, project.id)  # no pool yet
        assert store_pool.pool_counts(tx.session, project.id) == (0, 0)
    lw.add_to_pool("sms", candidates(1))
    lw.submit("sms", [{"external_id": "c0", "payload": "text 0"}])
    with lw.ctx.read() as tx:
        after = store_pool.candidate_ids(tx.session, project.id)  # its one was submitted
        assert store_pool.pool_counts(tx.session, project.id) == (0, 0)
    for waiting in (before, after):
        assert waiting.dtype == np.int64
        assert waiting.shape == (0,)


def test_payloads_are_read_by_id(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", candidates(5))
    lw.submit("sms", [{"external_id": "i0", "payload": "an item"}])
    ids = pool_ids(lw)
    wanted = [ids["c4"], ids["c0"], ids["c3"]]
    with lw.ctx.read() as tx:
        pool = store_pool.payloads_by_id(tx.session, PoolItemRow, wanted)
        items = store_pool.payloads_by_id(tx.session, ItemRow, [rows(lw, "item")[0]["id"]])
        nothing = store_pool.payloads_by_id(tx.session, PoolItemRow, [])
    assert pool == {
        ids["c4"]: {"text": "text 4"},
        ids["c0"]: {"text": "text 0"},
        ids["c3"]: {"text": "text 3"},
    }
    assert list(items.values()) == [{"text": "an item"}]
    assert nothing == {}


def test_payloads_read_as_a_range_are_only_those_asked_for(lw: Loopwise) -> None:
    """Ids that fill most of their range are read as it: the rows between them that were not
    asked for (another project's candidates, a chosen one) are left out; ids spread thin are
    read as a list."""
    make_text_project(lw)
    make_text_project(lw, "other")
    for i in range(5):  # the two projects' ids interleave, then the first's follow
        lw.add_to_pool("sms", candidates(1, i))
        lw.add_to_pool("other", [{"external_id": f"o{i}", "payload": f"other {i}"}])
    lw.add_to_pool("sms", candidates(5, 5))
    mine = {r["id"]: r["payload"] for r in rows(lw, "pool_item", project_id=lw.project("sms").id)}
    every = sorted(mine)
    asked = every[:6] + every[7:]  # one of its own left out too
    thin = [every[0], every[-1]]
    assert every[-1] - every[0] < store_pool.DENSE_SPAN * len(asked)  # read as the range
    assert every[-1] - every[0] >= store_pool.DENSE_SPAN * len(thin)  # read as a list
    with lw.ctx.read() as tx:
        ranged = store_pool.payloads_by_id(tx.session, PoolItemRow, asked[::-1])
        listed = store_pool.payloads_by_id(tx.session, PoolItemRow, thin)
    assert ranged == {i: mine[i] for i in asked}
    assert listed == {i: mine[i] for i in thin}


def test_known_candidates_are_found_by_external_id(lw: Loopwise) -> None:
    project = make_text_project(lw)
    other = make_text_project(lw, "other")
    lw.add_to_pool("sms", candidates(5))
    lw.add_to_pool("other", candidates(1, start=7))
    digests = {r["external_id"]: r["payload_sha256"] for r in rows(lw, "pool_item")}
    with lw.ctx.read() as tx:
        known = store_pool.known_candidates(tx.session, project.id, ["c4", "x", "c0", "c7", "c1"])
        elsewhere = store_pool.known_candidates(tx.session, other.id, ["c0", "c7"])
    assert known == {"c4": digests["c4"], "c0": digests["c0"], "c1": digests["c1"]}
    assert elsewhere == {"c7": digests["c7"]}  # another project's pool is not this one's


def test_statistics_are_sampled_again_once_a_table_outgrows_them(lw: Loopwise) -> None:
    project = make_text_project(lw)
    lw.submit("sms", [{"external_id": f"i{i}", "payload": f"item {i}"} for i in range(300)])
    lw.add_to_pool("sms", candidates(3000))
    engine = lw.ctx.engine
    if engine.dialect.name != "postgresql":
        assert store_pool.fresh_pool_statistics(engine) == []  # SQLite plans by its indexes
        return
    # add_to_pool sampled the 300 items (never sampled, past the slack) before it added to
    # the pool, which its 3,000 candidates have now outgrown.
    assert store_pool.fresh_pool_statistics(engine) == ["pool_item"]
    statement = store_pool.waiting_candidates(project.id)
    with engine.connect() as conn:
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(row[0] for row in conn.execute(text("EXPLAIN " + sql)))
    # Planned on what the tables hold, external ids are matched by a hash or an index; before,
    # every candidate was compared with every item (a join filter on external_id).
    assert not re.search(r"Filter: .*external_id", plan), plan
    assert store_pool.fresh_pool_statistics(engine) == []  # fresh: nothing to do
    lw.add_to_pool("sms", candidates(3200, start=3000))  # the pool more than doubles
    assert store_pool.fresh_pool_statistics(engine) == ["pool_item"]
    # Ids burnt by rolled-back inserts leave a gap: the largest id says "doubled" once, and
    # this process remembers it sampled up to there rather than sampling at every call.
    with engine.begin() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('pool_item', 'id'), 900000)"))
    lw.add_to_pool("sms", candidates(1, start=9000))
    assert store_pool.fresh_pool_statistics(engine) == ["pool_item"]
    lw.add_to_pool("sms", candidates(1, start=9001))
    assert store_pool.fresh_pool_statistics(engine) == []


def add_items(lw: Loopwise, project_id: int, texts_by_status: list[tuple[str, str]]) -> list[int]:
    """Item rows of ``(text, status)``, as ingests, imports and verdicts leave them."""
    now = datetime.now(UTC)
    made = []
    for n, (text_, status) in enumerate(texts_by_status):
        payload = {"text": text_}
        made.append(
            {
                "project_id": project_id,
                "external_id": f"item-{project_id}-{n}",
                "payload": payload,
                "payload_sha256": payload_digest(payload),
                "meta": {},
                "status": status,
                "created_at": now,
                "updated_at": now,
            }
        )
    with lw.ctx.write() as tx:
        return tx.repo.insert_many(ItemRow, made)


def test_items_people_see_are_found_by_payload_and_the_pool_screened_against_them(
    lw: Loopwise,
) -> None:
    project = make_text_project(lw)
    other = make_text_project(lw, "other")
    queued, decided, resolved, again = add_items(
        lw,
        project.id,
        [("text 0", "queued"), ("text 1", "decided"), ("text 2", "resolved"), ("text 0", "queued")],
    )
    add_items(lw, other.id, [("text 3", "queued")])  # another project's
    lw.add_to_pool("sms", candidates(5))
    ids = pool_ids(lw)
    digest = {r["external_id"]: r["payload_sha256"] for r in rows(lw, "pool_item")}
    with lw.ctx.read() as tx:
        held = store_pool.items_holding(tx.session, project.id, list(digest.values()))
        screened = store_pool.repeating_candidates(tx.session, project.id)
    # the oldest of the two items with text 0; text 1 only the model decided
    assert held == {digest["c0"]: queued, digest["c2"]: resolved}
    assert again > queued
    assert decided not in held.values()
    assert screened == {ids["c0"]: queued, ids["c2"]: resolved}


def test_the_payload_probe_and_the_screen_use_the_partial_index(lw: Loopwise) -> None:
    """The index holds only items people see, so a statement may use it only where its own
    condition implies that; written otherwise, the probe would read every item."""
    project = make_text_project(lw)
    add_items(lw, project.id, [(f"text {i}", "queued") for i in range(50)])
    lw.add_to_pool("sms", candidates(50))
    engine = lw.ctx.engine
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with lw.ctx.read() as tx:
            store_pool.items_holding(tx.session, project.id, ["0" * 64])
            store_pool.repeating_candidates(tx.session, project.id)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    sql = [(s, p) for s, p in statements if "payload_sha256" in s or "pool_item AS p" in s]
    assert len(sql) == 2
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        plans = []
        for statement, parameters in sql:
            if engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plans.append(" ".join(str(row[-1]) for row in cursor.fetchall()))
            else:  # 50 items: left to choose, PostgreSQL would read them all
                cursor.execute("SET enable_seqscan = off")
                cursor.execute("EXPLAIN " + statement, parameters)
                plans.append(" ".join(str(row[0]) for row in cursor.fetchall()))
        cursor.close()
    probe, screen = plans
    assert "ix_item_project_payload" in probe, probe
    if engine.dialect.name == "sqlite":  # PostgreSQL hashes the items people see instead
        assert "ix_item_project_payload" in screen, screen
