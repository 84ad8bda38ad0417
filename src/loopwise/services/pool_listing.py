"""Listing the active-learning pool's candidates: what waits, what queries chose, page by page.

A page is read by pool-item id (``after``: the last id of the page before), so each page costs
an index range, however deep into the pool (an ``OFFSET`` reads every row before the page); a
page of waiting candidates is :func:`~loopwise.store.pool.waiting_page`.
``waiting`` candidates are those a query can choose (as :func:`~loopwise.services.pool.pool_status`
counts them): not chosen, and not submitted by a client as items meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from loopwise.errors import InvalidInput
from loopwise.services.context import Context
from loopwise.store.pool import waiting_page
from loopwise.store.tables import PoolItemRow

MAX_PAGE = 1000
"""Candidates a page holds at most."""


class PoolState(StrEnum):
    """Which candidates a listing shows."""

    WAITING = "waiting"
    CHOSEN = "chosen"
    ALL = "all"


@dataclass(frozen=True)
class PoolCandidate:
    """One candidate of the pool; ``item_id`` and ``chosen_at`` once a query chose it."""

    id: int
    external_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    added_at: datetime
    item_id: int | None
    chosen_at: datetime | None


def list_pool(
    ctx: Context,
    project_name: str,
    *,
    state: PoolState | str = PoolState.WAITING,
    after: int | None = None,
    limit: int = 100,
) -> list[PoolCandidate]:
    """The project's candidates in ``state``, oldest first, at most ``limit`` (1 to
    :data:`MAX_PAGE`); the next page is ``after`` the last one's ``id``.

    Raises
    ------
    InvalidInput
        ``state`` is none of ``waiting``, ``chosen``, ``all``; ``limit`` out of range; ``after``
        not a whole number of at least 0.
    """
    try:
        state = PoolState(state)
    except ValueError:
        raise InvalidInput(
            f"must be one of {[s.value for s in PoolState]}", field="state"
        ) from None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be a whole number from 1 to {MAX_PAGE}", field="limit")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise InvalidInput("must be a whole number of at least 0", field="after")
    columns = (
        PoolItemRow.id,
        PoolItemRow.external_id,
        PoolItemRow.payload,
        PoolItemRow.meta,
        PoolItemRow.created_at,
        PoolItemRow.item_id,
        PoolItemRow.queried_at,
    )
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        if state is PoolState.WAITING:
            rows = waiting_page(tx.session, project.id, columns, after, limit)
        else:
            # each from its partial index: as one query over the pool, SQLite sorted the
            # project's candidates by id for every page (0.16 s a page of a million)
            rows = []
            for chosen in (True, False) if state is PoolState.ALL else (True,):
                page = select(*columns).where(
                    PoolItemRow.project_id == project.id,
                    PoolItemRow.item_id.is_not(None) if chosen else PoolItemRow.item_id.is_(None),
                )
                if after is not None:
                    page = page.where(PoolItemRow.id > after)
                rows += tx.session.execute(page.order_by(PoolItemRow.id).limit(limit)).all()
            rows = sorted(rows, key=lambda row: int(row.id))[:limit]
    return [PoolCandidate(*row) for row in rows]
