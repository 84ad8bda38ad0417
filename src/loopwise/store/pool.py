"""The active-learning pool's SQL: the candidates a query chooses from, and payloads by id.

A query reads only the candidates' ids; payloads are read where features must be computed
(new candidates, a new model) and for the chosen, so a query on a pool whose features are
stored does not read its payloads (a 100,000-row pool's JSON took a second a query to read).
The ids come as one text, joined in the database (:func:`candidate_ids`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import orjson
from sqlalchemy import BigInteger, Engine, Select, String, Table, exists, func, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from loopwise.core.enums import ItemStatus
from loopwise.store.db import fresh_statistics
from loopwise.store.features import IntArray
from loopwise.store.repository import one_parameter_in
from loopwise.store.tables import SEEN_BY_PEOPLE, ItemRow, LabelRow, PoolItemRow

DENSE_SPAN = 2
"""Ids spanning less than this many times their number are read as their range."""
_JOINED = (cast(Table, ItemRow.__table__), cast(Table, PoolItemRow.__table__))


def waiting_candidates(project_id: int) -> Select[int]:
    """Ids of the project's pool items that no query chose and no client submitted as items
    (an item with the same external id), in no set order. Planned well only on statistics
    that know both tables' sizes (:func:`fresh_pool_statistics`)."""
    submitted = exists().where(
        ItemRow.project_id == project_id, ItemRow.external_id == PoolItemRow.external_id
    )
    return select(PoolItemRow.id).where(
        PoolItemRow.project_id == project_id, PoolItemRow.item_id.is_(None), ~submitted
    )


def awaiting_label(session: Session, project_id: int, limit: int) -> list[int]:
    """Ids of the project's items queued for review with no label yet, newest first, at most
    ``limit``: what a query counts as picked already (their labels are on the way). Read from
    the items' ``(project_id, status)`` index, each probed for a label by its unique item id."""
    labelled = exists().where(LabelRow.item_id == ItemRow.id)
    rows = session.execute(
        select(ItemRow.id)
        .where(
            ItemRow.project_id == project_id, ItemRow.status == ItemStatus.QUEUED.value, ~labelled
        )
        .order_by(ItemRow.id.desc())
        .limit(limit)
    ).scalars()
    return [int(i) for i in rows]


def any_unchosen(session: Session, project_id: int) -> bool:
    """Whether any of the project's candidates is not chosen yet: one probe of the pool's
    partial index of those, however large the pool (a removal asks after every batch)."""
    unchosen = select(PoolItemRow.id).where(
        PoolItemRow.project_id == project_id, PoolItemRow.item_id.is_(None)
    )
    return session.execute(unchosen.limit(1)).first() is not None


def pool_counts(session: Session, project_id: int) -> tuple[int, int]:
    """How many of the project's candidates wait (as :func:`waiting_candidates`) and how many
    queries chose, read from the pool's two partial indexes rather than its rows: those not
    chosen, less those of them submitted as items, found as :func:`candidate_ids` finds them
    (a probe of the pool's unique index per item, or with more items than candidates a probe
    of the items' per candidate). Reading a million waiting ids to count them took 0.2 s on
    SQLite, and counting the chosen by a scan of the pool 0.45 s."""

    def count(*where: Any) -> int:
        counted = select(func.count()).where(PoolItemRow.project_id == project_id, *where)
        return int(session.execute(counted).scalar() or 0)

    chosen = count(PoolItemRow.item_id.is_not(None))
    unchosen = count(PoolItemRow.item_id.is_(None))
    if not unchosen:
        return 0, chosen
    if _more_items_than(session, project_id, unchosen):
        waiting = waiting_candidates(project_id).subquery()
        return int(session.execute(select(func.count()).select_from(waiting)).scalar() or 0), chosen
    submitted = count(
        PoolItemRow.item_id.is_(None),
        PoolItemRow.external_id.in_(
            select(ItemRow.external_id).where(ItemRow.project_id == project_id)
        ),
    )
    return unchosen - submitted, chosen


def waiting_page(
    session: Session, project_id: int, columns: Sequence[Any], after: int | None, limit: int
) -> list[Any]:
    """``columns`` (``PoolItemRow.id`` and ``.external_id`` among them) of the waiting
    candidates (as :func:`waiting_candidates`) with ids past ``after``, in id order, at most
    ``limit``: the unchosen read from the pool's partial index a
    page at a time, then those of them submitted as items found by their external ids (one
    probe of the items' unique index each), until the page is full or the pool ends.

    As one anti-join (``NOT EXISTS``) the plan rests on the items' statistics: planned on
    stale ones (1,000 items thought 2), PostgreSQL compared each candidate with every item,
    105 ms for a page of 1,000 in a million (``EXPLAIN ANALYZE``); a page's probes cost the
    same whatever the statistics say."""
    found: list[Any] = []
    cursor = -1 if after is None else after
    while len(found) < limit:
        rows = session.execute(
            select(*columns)
            .where(
                PoolItemRow.project_id == project_id,
                PoolItemRow.item_id.is_(None),
                PoolItemRow.id > cursor,
            )
            .order_by(PoolItemRow.id)
            .limit(limit)
        ).all()
        if not rows:
            break
        external = [row.external_id for row in rows]
        submitted: set[str] = set()
        for where in one_parameter_in(session, ItemRow.external_id, external, String):
            submitted.update(
                session.scalars(
                    select(ItemRow.external_id).where(ItemRow.project_id == project_id, where)
                )
            )
        found.extend(row for row in rows if row.external_id not in submitted)
        cursor = int(rows[-1].id)
        if len(rows) < limit:
            break
    return found[:limit]


def fresh_pool_statistics(engine: Engine) -> list[str]:
    """Sample the items and the pool again where they have outgrown their statistics
    (:func:`~loopwise.store.db.fresh_statistics`), before :func:`waiting_candidates` is
    planned; the tables sampled."""
    return fresh_statistics(engine, _JOINED)


def candidate_ids(session: Session, project_id: int) -> IntArray:
    """The ids of the candidates a query chooses from (:func:`waiting_candidates`, after
    :func:`fresh_pool_statistics`), ascending, sent as one text (:func:`_joined_ids`).

    PostgreSQL runs the anti-join as a hash of the project's items against one scan of the
    pool. SQLite has no hash join: it reads each candidate's external id from its row and
    probes the items' index with it, 0.75 s for a million candidates. There, with no more items
    in the project than unchosen candidates (the usual case), the unchosen ids are read from
    the pool's partial index and those of them submitted found from the items, one probe of
    the pool's unique index per item: 0.2 s for a million candidates and 4,700 items. The
    items are counted only up to one more than the unchosen, so telling the two cases apart
    reads no more than the cheaper way does."""
    if session.get_bind().dialect.name != "sqlite":
        return _joined_ids(session, waiting_candidates(project_id))
    unchosen = _joined_ids(
        session,
        select(PoolItemRow.id).where(
            PoolItemRow.project_id == project_id, PoolItemRow.item_id.is_(None)
        ),
    )
    if not len(unchosen):
        return unchosen
    if _more_items_than(session, project_id, len(unchosen)):
        return _joined_ids(session, waiting_candidates(project_id))
    submitted = _joined_ids(
        session,
        select(PoolItemRow.id).where(
            PoolItemRow.project_id == project_id,
            PoolItemRow.item_id.is_(None),
            PoolItemRow.external_id.in_(
                select(ItemRow.external_id).where(ItemRow.project_id == project_id)
            ),
        ),
    )
    if not len(submitted):
        return unchosen
    return np.setdiff1d(unchosen, submitted, assume_unique=True)


def _more_items_than(session: Session, project_id: int, n: int) -> bool:
    """Whether the project has more than ``n`` items, counting no more than ``n + 1``: which
    side of the pool's anti-join with the items to probe from."""
    capped = (select(ItemRow.id).where(ItemRow.project_id == project_id).limit(n + 1)).subquery()
    return int(session.execute(select(func.count()).select_from(capped)).scalar() or 0) > n


def _joined_ids(session: Session, statement: Select[Any]) -> IntArray:
    """The ids ``statement`` selects, ascending, sent by the database as one text (SQLAlchemy's
    ``aggregate_strings``: ``group_concat`` on SQLite, ``string_agg`` on PostgreSQL) that NumPy
    parses and sorts. As a million rows they cost the driver a tuple and an int each, 0.3-0.5 s
    more on SQLite; and an ``ORDER BY`` made PostgreSQL sort them on disk (``work_mem``)."""
    rows = statement.subquery()
    joined = session.execute(
        select(func.aggregate_strings(sql_cast(rows.c.id, String), ","))
    ).scalar()
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.fromstring(joined, dtype=np.int64, sep=","))


def payloads_by_id(
    session: Session, table: type[PoolItemRow] | type[ItemRow], ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """``{id: payload}`` of ``table``'s rows ``ids`` (pool items or items).

    Ids that fill most of their range (a query's new candidates: usually all of it) are read
    as the range, and the others dropped here; ids spread thin go to the database as a list.
    The rows come straight from the driver's cursor, the JSON parsed by orjson where the driver
    returns text (SQLite; psycopg parses JSONB itself). Through SQLAlchemy's result rows and an
    id list, 100,000 payloads took 1.08 s on SQLite against 0.5 s, most of a query that
    computes every candidate's features (profiled)."""
    found: dict[int, dict[str, Any]] = {}
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return found
    low, high = wanted[0], wanted[-1]
    ranged = high - low < DENSE_SPAN * len(wanted)
    if ranged:
        wheres: list[Any] = [table.id.between(low, high)]
    else:
        wheres = one_parameter_in(session, table.id, wanted, BigInteger)
    for where in wheres:
        rows = _fetched(session, select(table.id, table.payload).where(where))
        if rows and not isinstance(rows[0][1], dict):
            ids_, texts = [r[0] for r in rows], [r[1] for r in rows]
            found.update(zip(ids_, map(orjson.loads, texts), strict=True))
        else:
            found.update(rows)
    if ranged:  # keep the ids asked for
        found = {i: found[i] for i in wanted if i in found}
    return found


def _fetched(session: Session, statement: Select[Any]) -> list[Any]:
    """``statement``'s rows as the driver's cursor returns them (tuples, no SQLAlchemy result
    rows or type processing)."""
    result = session.connection().execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


class PoolMatch(NamedTuple):
    """A candidate found in the pool: its row id, its payload's digest, and the item a query
    made of it (``None`` while it waits)."""

    id: int
    digest: str
    item_id: int | None


def known_candidates(
    session: Session, project_id: int, external_ids: Sequence[str]
) -> dict[str, str]:
    """``{external id: payload sha256}`` of those of ``external_ids`` already in the project's
    pool (:func:`candidates_by_external_id`)."""
    return {
        external_id: match.digest
        for external_id, match in candidates_by_external_id(
            session, project_id, external_ids
        ).items()
    }


def candidates_by_external_id(
    session: Session, project_id: int, external_ids: Sequence[str]
) -> dict[str, PoolMatch]:
    """``{external id: match}`` of those of ``external_ids`` in the project's pool (probed
    through its unique index)."""
    found: dict[str, PoolMatch] = {}
    if not external_ids:
        return found
    for where in one_parameter_in(session, PoolItemRow.external_id, external_ids, String):
        rows = session.execute(
            select(
                PoolItemRow.external_id,
                PoolItemRow.id,
                PoolItemRow.payload_sha256,
                PoolItemRow.item_id,
            ).where(PoolItemRow.project_id == project_id, where)
        ).all()
        found.update((str(e), PoolMatch(int(i), str(d), item)) for e, i, d, item in rows)
    return found


def candidates_with_digests(
    session: Session, project_id: int, digests: Sequence[str]
) -> list[tuple[str, PoolMatch]]:
    """``(digest, match)`` of the project's candidates whose payload has one of ``digests``
    (no index on digests: one read of the project's pool)."""
    out: list[tuple[str, PoolMatch]] = []
    if not digests:
        return out
    for where in one_parameter_in(session, PoolItemRow.payload_sha256, digests, String):
        rows = session.execute(
            select(PoolItemRow.id, PoolItemRow.payload_sha256, PoolItemRow.item_id).where(
                PoolItemRow.project_id == project_id, where
            )
        ).all()
        out.extend((str(d), PoolMatch(int(i), str(d), item)) for i, d, item in rows)
    return out


def items_holding(session: Session, project_id: int, digests: Sequence[str]) -> dict[str, int]:
    """``{digest: item id}`` of those of ``digests`` (payload digests) that an item of the
    project people see (queued or resolved: ``SEEN_BY_PEOPLE``) holds, the oldest such item
    each: probes of the items' partial payload index (``ix_item_project_payload``, 0012)."""
    found: dict[str, int] = {}
    if not digests:
        return found
    for where in one_parameter_in(session, ItemRow.payload_sha256, sorted(set(digests)), String):
        rows = session.execute(
            select(ItemRow.payload_sha256, func.min(ItemRow.id))
            .where(ItemRow.project_id == project_id, where, text(SEEN_BY_PEOPLE))
            .group_by(ItemRow.payload_sha256)
        ).all()
        found.update((str(d), int(i)) for d, i in rows)
    return found


def repeating_candidates(session: Session, project_id: int) -> dict[int, int]:
    """``{pool id: item id}`` of the project's unchosen candidates whose payload an item people
    see holds (as :func:`items_holding`, the oldest such item each): the whole pool against the
    items' payload index, one join. A query makes this screen only once a probe of its picks
    found such a candidate, and records what it finds, so it is not repeated for them.

    PostgreSQL hashes the items people see and reads the pool once. SQLite, left to choose,
    read for each candidate every item people see through the items' status index (its plan
    without statistics), and SQLAlchemy renders no ``INDEXED BY`` for SQLite: there the
    statement is written out, with the payload index named. Probing the index a page of
    digests at a time from here instead (:func:`items_holding`) took 3.8 s on SQLite and 7.4 s
    on PostgreSQL for a million candidates and a million items, a tenth of them seen."""
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(
            text(
                "SELECT p.id, min(i.id) FROM pool_item AS p "
                "JOIN item AS i INDEXED BY ix_item_project_payload "
                "ON i.project_id = p.project_id AND i.payload_sha256 = p.payload_sha256 "
                f"WHERE p.project_id = :project AND p.item_id IS NULL AND {SEEN_BY_PEOPLE} "
                "GROUP BY p.id"
            ),
            {"project": project_id},
        ).all()
    else:
        rows = session.execute(
            select(PoolItemRow.id, func.min(ItemRow.id))
            .join(
                ItemRow,
                (ItemRow.project_id == PoolItemRow.project_id)
                & (ItemRow.payload_sha256 == PoolItemRow.payload_sha256),
            )
            .where(
                PoolItemRow.project_id == project_id,
                PoolItemRow.item_id.is_(None),
                text(SEEN_BY_PEOPLE),
            )
            .group_by(PoolItemRow.id)
        ).all()
    return {int(pool_id): int(item_id) for pool_id, item_id in rows}
