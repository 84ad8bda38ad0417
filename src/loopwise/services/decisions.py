"""Reading decisions back: one item's, a filtered page of them, and how long to wait for one.

Gold (honeypot) items never appear: they exist to measure reviewers, and a client that could
list them could tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from loopwise.core.enums import DecisionOrigin, ItemStatus, Route, TaskStatus
from loopwise.errors import InvalidInput, ItemNotFound
from loopwise.services.context import Context
from loopwise.store.tables import DecisionRow, ItemRow, PredictionRow, ReviewTaskRow

MAX_PAGE = 1000


@dataclass(frozen=True)
class DecisionView:
    """Where one item stands: ``decided`` (by the model), ``queued`` (``ticket`` is its open
    review task), or ``resolved`` (by people or imported ground truth); ``label`` is the final
    label once there is one."""

    item_id: int
    external_id: str
    status: ItemStatus
    route: Route
    label: str | None
    predicted_label: str | None
    confidence: float | None
    reasons: tuple[str, ...]
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None
    ticket: int | None = None

    @property
    def final(self) -> bool:
        return self.status is not ItemStatus.QUEUED


def _query(project_id: int) -> Any:
    return (
        select(
            ItemRow.id,
            ItemRow.external_id,
            ItemRow.status,
            DecisionRow.route,
            DecisionRow.final_label,
            PredictionRow.predicted_label,
            PredictionRow.confidence,
            DecisionRow.reasons,
            DecisionRow.decided_by,
            DecisionRow.created_at,
            DecisionRow.decided_at,
        )
        .join(DecisionRow, DecisionRow.item_id == ItemRow.id)
        .outerjoin(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
        .where(ItemRow.project_id == project_id, DecisionRow.origin != DecisionOrigin.GOLD.value)
    )


def _view(row: Any, ticket: int | None = None) -> DecisionView:
    return DecisionView(
        item_id=row[0],
        external_id=row[1],
        status=ItemStatus(row[2]),
        route=Route(row[3]),
        label=row[4],
        predicted_label=row[5],
        confidence=row[6],
        reasons=tuple(row[7]),
        decided_by=row[8],
        created_at=row[9],
        decided_at=row[10],
        ticket=ticket,
    )


def get_decision(ctx: Context, project_name: str, external_id: str) -> DecisionView:
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        row = tx.session.execute(
            _query(project.id).where(ItemRow.external_id == external_id)
        ).first()
        if row is None:
            raise ItemNotFound(
                f"no item {external_id!r} in project {project_name!r}", field="external_id"
            )
        ticket = None
        if row[2] == ItemStatus.QUEUED.value:
            ticket = tx.session.scalar(
                select(ReviewTaskRow.id)
                .where(
                    ReviewTaskRow.item_id == row[0],
                    ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]),
                )
                .order_by(ReviewTaskRow.id.desc())
                .limit(1)
            )
        return _view(row, ticket)


def list_decisions(
    ctx: Context,
    project_name: str,
    *,
    status: ItemStatus | str | None = None,
    route: Route | str | None = None,
    since: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[DecisionView]:
    """Decisions oldest first, filtered; page with ``after`` = the last ``item_id`` seen."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PAGE}", field="limit")
    try:
        status = None if status is None else ItemStatus(status)
    except ValueError:
        raise InvalidInput(
            f"must be one of {[s.value for s in ItemStatus]}", field="status"
        ) from None
    try:
        route = None if route is None else Route(route)
    except ValueError:
        raise InvalidInput(f"must be one of {[r.value for r in Route]}", field="route") from None
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        query = _query(project.id)
        if status is not None:
            query = query.where(ItemRow.status == status.value)
        if route is not None:
            query = query.where(DecisionRow.route == route.value)
        if since is not None:
            query = query.where(DecisionRow.created_at >= since)
        if after is not None:
            query = query.where(ItemRow.id > after)
        rows = tx.session.execute(query.order_by(ItemRow.id).limit(limit)).all()
        queued = [r[0] for r in rows if r[2] == ItemStatus.QUEUED.value]
        tickets = dict(
            tx.session.execute(
                select(ReviewTaskRow.item_id, func.max(ReviewTaskRow.id))
                .where(
                    ReviewTaskRow.item_id.in_(queued),
                    ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]),
                )
                .group_by(ReviewTaskRow.item_id)
            ).all()
            if queued
            else []
        )
        return [_view(r, tickets.get(r[0])) for r in rows]
