"""Candidates a pool query sets aside because an item already holds their payload.

A candidate whose payload (the same text, the same features) is an item's that is queued for
review or resolved, under another external id, would ask people about what they have seen, or
will see, spending a label for nothing. An item the model decided alone was never seen by a
person, so a candidate repeating it may still be chosen (the query makes it an item of its own).

Checking every candidate before each query would join the whole pool with the items. Instead a
query probes the items' payload index (migration 0012: over the items people see only, so the
model's own decisions cost an ingest nothing there) with its picks' digests; when one
repeats an item, it checks the whole pool once (:func:`~loopwise.store.pool.repeating_candidates`),
chooses again without those found, and records each of them as that item's (``item_id``, with no
``queried_at``): later queries, the pool's status and its listing count them as items, not waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

import numpy as np
from sqlalchemy import BigInteger, Table, bindparam, select, update

from loopwise.errors import EmptyPool, NotEnoughInPool
from loopwise.services.context import Context, Tx
from loopwise.store.features import IntArray
from loopwise.store.pool import items_holding, repeating_candidates
from loopwise.store.repository import one_parameter_in
from loopwise.store.tables import PoolItemRow


def set_aside(
    ctx: Context,
    project_id: int,
    ids: IntArray,
    picked: IntArray,
    choose: Callable[[IntArray, int], IntArray],
    size: int,
    *,
    up_to: bool,
    actor: str,
) -> tuple[IntArray, dict[int, int]]:
    """``picked`` (positions in ``ids``, a query's candidates) if none repeats an item's
    payload, else the ``size`` that ``choose(rows, size)`` picks from the positions of the
    candidates that repeat none (all of them at most, with ``up_to``); and the candidates set
    aside, ``{pool id: item id}``, for :func:`link` in the query's transaction.

    Raises
    ------
    EmptyPool, NotEnoughInPool
        Fewer than ``size`` are left once those are set aside. Those found are recorded first
        (:func:`link`, with a ``pool.set_aside`` audit event by ``actor``): they are items
        already, whatever the query does.
    """
    repeats = find(ctx, project_id, ids, ids[picked])
    if not repeats:
        return picked, repeats
    rows = np.flatnonzero(~np.isin(ids, np.fromiter(repeats, dtype=np.int64)))
    asked = size
    if up_to:
        size = min(size, len(rows))
    if size > len(rows) or not len(rows):
        with ctx.write() as tx:
            link(tx, repeats)
            tx.audit(
                actor=actor,
                action="pool.set_aside",
                entity_type="project",
                entity_id=project_id,
                project_id=project_id,
                after={"set_aside": len(repeats), "left": len(rows), "asked": asked},
            )
        if not len(rows):
            raise EmptyPool("the pool has no unlabelled item left to choose from", field="pool")
        raise NotEnoughInPool(f"asked for {size} items; the pool has {len(rows)} left", field="n")
    return choose(rows, size), repeats


def find(ctx: Context, project_id: int, ids: IntArray, picked: IntArray) -> dict[int, int]:
    """``{pool id: item id}`` of the candidates among ``ids`` (those a query chose from) that
    repeat an item's payload; empty, after one probe per pick, when none of ``picked`` does."""
    if not len(picked):
        return {}
    with ctx.read() as tx:
        digests = [
            str(d)
            for where in one_parameter_in(
                tx.session, PoolItemRow.id, [int(i) for i in picked], BigInteger
            )
            for d in tx.session.scalars(select(PoolItemRow.payload_sha256).where(where))
        ]
        if not items_holding(tx.session, project_id, digests):
            return {}
        found = repeating_candidates(tx.session, project_id)
    among = np.isin(np.fromiter(found, dtype=np.int64, count=len(found)), ids)
    return {
        pool_id: item_id
        for (pool_id, item_id), keep in zip(found.items(), among, strict=True)
        if keep
    }


def link(tx: Tx, repeats: Mapping[int, int]) -> None:
    """Record each repeating candidate as the item that holds its payload (if no query took it
    meanwhile): one statement, run for all of them (``executemany``)."""
    if not repeats:
        return
    pool = cast(Table, PoolItemRow.__table__)
    tx.session.connection().execute(
        update(pool)
        .where(pool.c.id == bindparam("pool_id"), pool.c.item_id.is_(None))
        .values(item_id=bindparam("found_item")),
        [{"pool_id": p, "found_item": i} for p, i in repeats.items()],
    )
