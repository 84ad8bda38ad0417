"""Operating numbers of a project: where items went and how often people agreed with the model."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from loopwise.core.enums import DecisionOrigin, Route, TaskStatus
from loopwise.services.context import Context
from loopwise.store.tables import DecisionRow, LabelRow, PredictionRow, ReviewTaskRow


@dataclass(frozen=True)
class ProjectStats:
    items: int
    decided: int
    queued: int
    resolved: int
    routes: dict[str, int]
    open_tasks: int
    labels: int
    human_ai_agreement: float | None

    @property
    def automation_rate(self) -> float:
        routed = sum(self.routes.values())
        return self.routes.get(Route.AUTO.value, 0) / routed if routed else 0.0


def project_stats(ctx: Context, project_name: str) -> ProjectStats:
    """Counts of items by state, decisions by route, open tasks, labels, and the share of
    human-resolved predictions where the person agreed with the model (higher = model better)."""
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        status = tx.repo.item_status_counts(project.id)
        routes = dict(
            tx.session.execute(
                select(DecisionRow.route, func.count())
                .where(
                    DecisionRow.project_id == project.id,
                    DecisionRow.origin == DecisionOrigin.ROUTED.value,
                )
                .group_by(DecisionRow.route)
            ).all()
        )
        open_tasks = tx.session.scalar(
            select(func.count())
            .select_from(ReviewTaskRow)
            .where(
                ReviewTaskRow.project_id == project.id,
                ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]),
            )
        )
        agree = tx.session.execute(
            select(
                func.count(),
                func.sum(case((PredictionRow.predicted_label == LabelRow.value, 1), else_=0)),
            )
            .select_from(LabelRow)
            .join(DecisionRow, DecisionRow.item_id == LabelRow.item_id)
            .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
            .where(LabelRow.project_id == project.id)
        ).one()
        total, agreed = int(agree[0] or 0), int(agree[1] or 0)
        return ProjectStats(
            items=sum(status.values()),
            decided=status.get("decided", 0),
            queued=status.get("queued", 0),
            resolved=status.get("resolved", 0),
            routes={k: int(v) for k, v in routes.items()},
            open_tasks=int(open_tasks or 0),
            labels=tx.repo.label_count(project.id),
            human_ai_agreement=agreed / total if total else None,
        )
