"""Operating numbers of a project: where items went, how often people agreed with the model, the
review queue, how fast and how punctually people work, and how much review work was done.

Everything is read in one transaction (a snapshot on PostgreSQL too), each figure by one
aggregate query; the review-side figures are in :mod:`loopwise.services.stats_review`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from loopwise.core.enums import DecisionOrigin, Route, TaskStatus
from loopwise.services.context import Context, Tx
from loopwise.services.stats_review import (
    LATENCY_WINDOW,
    CostInputs,
    LatencySummary,
    QueueLevel,
    SlaLevel,
    SlaSummary,
    cost_inputs,
    queue_levels,
    review_latency,
    sla_summary,
)
from loopwise.store.tables import DecisionRow, LabelRow, PredictionRow, ReviewTaskRow

__all__ = [
    "LATENCY_WINDOW",
    "CostInputs",
    "LabelAgreement",
    "LatencySummary",
    "ProjectStats",
    "QueueLevel",
    "SlaLevel",
    "SlaSummary",
    "project_stats",
]


@dataclass(frozen=True)
class LabelAgreement:
    """How often the model's prediction matched the resolved label, for items of one true label.

    Attributes
    ----------
    n
        Resolved items with this label that the model had predicted.
    agreed
        Of ``n``, those the model predicted as this label.
    share
        ``agreed / n`` (higher = the model is better on this label; the label's recall).
    """

    n: int
    agreed: int
    share: float


@dataclass(frozen=True)
class ProjectStats:
    """A project's operating numbers at ``as_of``.

    Attributes
    ----------
    items, decided, queued, resolved
        Items in all, and in each state.
    routes
        Routed decisions by route (``auto``, ``human``, ``expert``); imports and gold excluded.
    open_tasks
        Review tasks open or claimed (gold tasks being answered included).
    labels
        Resolved labels (the training data).
    human_ai_agreement
        Of the labelled items the model had predicted, the share where the label is the
        prediction (higher = model better); ``None`` with none.
    agreement_by_label
        The same, by true label (:class:`LabelAgreement`), ordered by label.
    queue
        Work waiting, by level and stage in serve order (:class:`QueueLevel`).
    latency
        Routing-to-resolution seconds of items people resolved (:class:`LatencySummary`).
    sla
        Deadlines met by finished tasks and missed by open ones (:class:`SlaSummary`).
    cost
        Review counts to price (:class:`CostInputs`).
    as_of
        When the numbers were read: ages and "past due" are measured against it.
    """

    items: int
    decided: int
    queued: int
    resolved: int
    routes: dict[str, int]
    open_tasks: int
    labels: int
    human_ai_agreement: float | None
    agreement_by_label: dict[str, LabelAgreement]
    queue: tuple[QueueLevel, ...]
    latency: LatencySummary
    sla: SlaSummary
    cost: CostInputs
    as_of: datetime

    @property
    def automation_rate(self) -> float:
        routed = sum(self.routes.values())
        return self.routes.get(Route.AUTO.value, 0) / routed if routed else 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (dicts, lists, str, int, float, ``None``; times as ISO 8601), with
        ``automation_rate`` added."""
        data: dict[str, Any] = _plain(dataclasses.asdict(self))
        data["automation_rate"] = self.automation_rate
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def snapshot(tx: Tx) -> None:
    """Read every figure from one snapshot: PostgreSQL's default (read committed) takes a new one
    per statement. SQLite's read transaction is a snapshot already."""
    if tx.session.get_bind().dialect.name == "postgresql":
        tx.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _agreement_by_label(tx: Tx, project_id: int) -> dict[str, LabelAgreement]:
    rows = tx.session.execute(
        select(
            LabelRow.value,
            func.count(),
            func.sum(case((PredictionRow.predicted_label == LabelRow.value, 1), else_=0)),
        )
        .select_from(LabelRow)
        .join(DecisionRow, DecisionRow.item_id == LabelRow.item_id)
        .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
        .where(LabelRow.project_id == project_id)
        .group_by(LabelRow.value)
        .order_by(LabelRow.value)
    ).all()
    return {
        label: LabelAgreement(int(n), int(agreed or 0), int(agreed or 0) / int(n))
        for label, n, agreed in rows
    }


def project_stats(ctx: Context, project_name: str) -> ProjectStats:
    """Counts of items by state, decisions by route, open tasks and labels; human-AI agreement
    overall and by label; the queue by level; review latency; SLA compliance; review counts.

    Raises
    ------
    ProjectNotFound
        No project is named ``project_name``.
    """
    with ctx.read() as tx:
        snapshot(tx)
        project = tx.repo.project_by_name(project_name)
        status = tx.repo.item_status_counts(project.id)
        routes = {
            route: int(count)
            for route, count in tx.session.execute(
                select(DecisionRow.route, func.count())
                .where(
                    DecisionRow.project_id == project.id,
                    DecisionRow.origin == DecisionOrigin.ROUTED.value,
                )
                .group_by(DecisionRow.route)
            ).all()
        }
        open_tasks = tx.session.scalar(
            select(func.count())
            .select_from(ReviewTaskRow)
            .where(
                ReviewTaskRow.project_id == project.id,
                ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]),
            )
        )
        by_label = _agreement_by_label(tx, project.id)
        total = sum(a.n for a in by_label.values())
        agreed = sum(a.agreed for a in by_label.values())
        return ProjectStats(
            items=sum(status.values()),
            decided=status.get("decided", 0),
            queued=status.get("queued", 0),
            resolved=status.get("resolved", 0),
            routes=routes,
            open_tasks=int(open_tasks or 0),
            labels=tx.repo.label_count(project.id),
            human_ai_agreement=agreed / total if total else None,
            agreement_by_label=by_label,
            queue=queue_levels(tx, project.id),
            latency=review_latency(tx, project.id),
            sla=sla_summary(tx, project.id),
            cost=cost_inputs(tx, project.id, sum(routes.values())),
            as_of=tx.now,
        )
