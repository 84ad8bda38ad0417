"""The active-learning pool's SQL: the candidates a query chooses from, and payloads by id.

A query reads only the candidates' ids; payloads are read where features must be computed
(new candidates, a new model) and for the chosen, so a query on a pool whose features are
stored does not read its payloads (a 100,000-row pool's JSON took a second a query to read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, Select, Table, any_, bindparam, exists, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from loopwise.store.db import fresh_statistics
from loopwise.store.tables import ItemRow, PoolItemRow

_JOINED = (cast(Table, ItemRow.__table__), cast(Table, PoolItemRow.__table__))
PAYLOAD_CHUNK = 5_000
"""Ids per ``IN`` list when reading payloads (SQLite allows 32,766 parameters)."""


def waiting_candidates(project_id: int) -> Select[int]:
    """Ids of the project's pool items that no query chose and no client submitted as items
    (an item with the same external id), ascending. Planned well only on statistics that know
    both tables' sizes (:func:`fresh_pool_statistics`)."""
    submitted = exists().where(
        ItemRow.project_id == project_id, ItemRow.external_id == PoolItemRow.external_id
    )
    return (
        select(PoolItemRow.id)
        .where(PoolItemRow.project_id == project_id, PoolItemRow.item_id.is_(None), ~submitted)
        .order_by(PoolItemRow.id)
    )


def fresh_pool_statistics(engine: Engine) -> list[str]:
    """Sample the items and the pool again where they have outgrown their statistics
    (:func:`~loopwise.store.db.fresh_statistics`), before :func:`waiting_candidates` is
    planned; the tables sampled."""
    return fresh_statistics(engine, _JOINED)


def candidate_ids(session: Session, project_id: int) -> list[int]:
    """Run :func:`waiting_candidates` (after :func:`fresh_pool_statistics`)."""
    return list(session.scalars(waiting_candidates(project_id)).all())


def payloads_by_id(
    session: Session, table: type[PoolItemRow] | type[ItemRow], ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """``{id: payload}`` of ``table``'s rows ``ids`` (pool items or items), read in chunks.

    On PostgreSQL a chunk's ids go as one array (``id = ANY(:ids)``): as an ``IN`` list of
    5,000 parameters, psycopg spent more time building each statement than the server running
    it (2.2 of 2.3 s reading a 100,000-row pool's payloads)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), PAYLOAD_CHUNK):
        chunk = [int(i) for i in ids[start : start + PAYLOAD_CHUNK]]
        wanted = (
            table.id == any_(bindparam("ids", chunk, type_=postgresql.ARRAY(BigInteger)))
            if postgres
            else table.id.in_(chunk)
        )
        rows = session.execute(select(table.id, table.payload).where(wanted)).all()
        found.update((int(i), payload) for i, payload in rows)
    return found
