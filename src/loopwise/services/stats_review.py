"""The review side of a project's operating numbers: the queue, how fast people resolve, SLAs, and
how much review work was done (what it costs).

Each figure is one aggregate query (``GROUP BY`` in the database, a handful of rows back), run
inside the caller's read transaction; only review latency fetches rows, and at most
:data:`LATENCY_WINDOW` of them. Gold (honeypot) tasks are measurement, not work a client waits
for: they are left out of the queue and SLA figures, and counted apart among the reviews.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.sql import ColumnElement

from loopwise.core.enums import DecisionOrigin, Priority, Route, Stage, TaskStatus
from loopwise.services.context import Tx
from loopwise.store.tables import DecisionRow, ReviewRow, ReviewTaskRow

LATENCY_WINDOW = 10_000
"""Review latency is measured over at most this many of the most recent resolutions by people."""

WAITING = (TaskStatus.OPEN.value, TaskStatus.CLAIMED.value)
"""Task states that are work still to do. ``escalated`` is not one: an escalated task is closed
and its expert task (stage ``expert``) carries the work on."""

_STAGE_ORDER = {Stage.REVIEW.value: 0, Stage.EXPERT.value: 1}


def priority_name(level: int) -> str:
    """``0`` -> ``"urgent"``: a priority level as the review settings and the API spell it."""
    return Priority(level).name.lower()


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass(frozen=True)
class QueueLevel:
    """Work waiting at one priority level and stage.

    Attributes
    ----------
    priority, stage
        The level the tasks are served at now (``urgent`` ... ``low``; ageing moves a task up
        when a claim is made, so a task overdue for a move still shows its last level) and
        ``review`` or ``expert``.
    tasks
        Open and claimed tasks (claimed ones included: they are not finished).
    claimed
        Of ``tasks``, those a person holds right now.
    oldest_age_seconds
        Seconds since the oldest of them was made (higher = the queue is further behind).
    past_due
        Of ``tasks``, those past their SLA deadline (``due_at`` before now).
    """

    priority: str
    stage: str
    tasks: int
    claimed: int
    oldest_age_seconds: float
    past_due: int


@dataclass(frozen=True)
class LatencySummary:
    """Seconds from an item's routing (its decision was made) to its resolution by people.

    Covers items a person resolved: routed to people, settled by a finished review task
    (imported ground truth and gold items do not count). The mean and percentiles are over the
    most recent ``measured`` resolutions (at most :data:`LATENCY_WINDOW`), percentiles by linear
    interpolation between the nearest ranks; all ``None`` when nothing was resolved. Lower =
    faster.

    Attributes
    ----------
    resolutions
        Every item resolved by people in the project.
    measured
        How many of the most recent ones the figures below are computed over.
    """

    resolutions: int
    measured: int
    mean_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None


@dataclass(frozen=True)
class SlaLevel:
    """Deadlines met and missed by the tasks made at one priority level.

    Attributes
    ----------
    finished
        Tasks finished (status ``done``); every task has a deadline from the level's SLA.
    on_time
        Of ``finished``, those finished on or before their deadline.
    on_time_rate
        ``on_time / finished`` (higher = better), ``None`` when nothing was finished.
    open_past_due
        Tasks still open or claimed whose deadline has passed.
    """

    finished: int
    on_time: int
    on_time_rate: float | None
    open_past_due: int

    @classmethod
    def of(cls, finished: int, on_time: int, open_past_due: int) -> SlaLevel:
        rate = on_time / finished if finished else None
        return cls(finished, on_time, rate, open_past_due)


@dataclass(frozen=True)
class SlaSummary:
    """SLA compliance over the whole project and by the level a task was made at (which set its
    deadline; ageing moves a task up but keeps its deadline). Levels with no tasks are left out
    of ``by_priority``; the attributes are those of :class:`SlaLevel`."""

    finished: int
    on_time: int
    on_time_rate: float | None
    open_past_due: int
    by_priority: dict[str, SlaLevel]


@dataclass(frozen=True)
class CostInputs:
    """How much review work the project's decisions took: multiply by prices for a cost.

    Attributes
    ----------
    reviews
        Every review given (each verdict, skips and escalations included), expert and gold
        ones included.
    expert_reviews
        Of ``reviews``, those given at the expert stage.
    gold_reviews
        Of ``reviews``, those given on gold items (the price of measuring reviewers).
    decisions
        Routed decisions (automatic and human; imports and gold items excluded): the
        denominator of a cost per decision.
    """

    reviews: int
    expert_reviews: int
    gold_reviews: int
    decisions: int

    def per_decision(self, review_price: float, expert_price: float | None = None) -> float | None:
        """The review cost per routed decision, with experts at ``expert_price`` (by default
        the same as a review); ``None`` when nothing was routed."""
        if not self.decisions:
            return None
        expert = review_price if expert_price is None else expert_price
        spent = (self.reviews - self.expert_reviews) * review_price
        return (spent + self.expert_reviews * expert) / self.decisions


def queue_levels(tx: Tx, project_id: int) -> tuple[QueueLevel, ...]:
    """The open work by level and stage, in serve order (levels with no tasks are left out)."""
    task = ReviewTaskRow
    rows = tx.session.execute(
        select(
            task.priority,
            task.stage,
            func.count(),
            count_if(task.status == TaskStatus.CLAIMED.value),
            func.min(task.created_at),
            count_if(task.due_at < tx.now),
        )
        .where(
            task.project_id == project_id,
            task.status.in_(WAITING),
            task.honeypot_id.is_(None),
        )
        .group_by(task.priority, task.stage)
    ).all()
    levels = [
        QueueLevel(
            priority=priority_name(level),
            stage=stage,
            tasks=int(count),
            claimed=int(claimed),
            oldest_age_seconds=(tx.now - oldest).total_seconds(),
            past_due=int(past_due),
        )
        for level, stage, count, claimed, oldest, past_due in rows
    ]
    return tuple(
        sorted(levels, key=lambda q: (Priority[q.priority.upper()], _STAGE_ORDER[q.stage]))
    )


def resolved_by_people(project_id: int) -> list[ColumnElement[bool]]:
    live_task_done = exists().where(
        ReviewTaskRow.item_id == DecisionRow.item_id,
        ReviewTaskRow.status == TaskStatus.DONE.value,
        ReviewTaskRow.honeypot_id.is_(None),
    )
    return [
        DecisionRow.project_id == project_id,
        DecisionRow.origin == DecisionOrigin.ROUTED.value,
        DecisionRow.route != Route.AUTO.value,
        DecisionRow.decided_at.is_not(None),
        live_task_done,
    ]


def review_latency(tx: Tx, project_id: int, window: int = LATENCY_WINDOW) -> LatencySummary:
    """Routing-to-resolution times of the items people resolved (see :class:`LatencySummary`)."""
    where = resolved_by_people(project_id)
    total = int(tx.session.scalar(select(func.count()).select_from(DecisionRow).where(*where)) or 0)
    pairs = tx.session.execute(
        select(DecisionRow.created_at, DecisionRow.decided_at)
        .where(*where)
        .order_by(DecisionRow.decided_at.desc(), DecisionRow.id.desc())
        .limit(window)
    ).all()
    if not pairs:
        return LatencySummary(total, 0, None, None, None, None)
    seconds = np.array([(done - routed).total_seconds() for routed, done in pairs if done])
    p50, p90, p99 = (float(p) for p in np.percentile(seconds, [50, 90, 99]))
    return LatencySummary(total, len(seconds), float(seconds.mean()), p50, p90, p99)


def sla_summary(tx: Tx, project_id: int) -> SlaSummary:
    """Deadlines met by finished tasks, and missed by open ones, by the level that set them."""
    task = ReviewTaskRow
    done = task.status == TaskStatus.DONE.value
    rows = tx.session.execute(
        select(
            task.base_priority,
            count_if(and_(done, task.resolved_at.is_not(None))),
            count_if(and_(done, task.resolved_at <= task.due_at)),
            count_if(and_(task.status.in_(WAITING), task.due_at < tx.now)),
        )
        .where(
            task.project_id == project_id,
            task.status.in_((TaskStatus.DONE.value, *WAITING)),
            task.honeypot_id.is_(None),
        )
        .group_by(task.base_priority)
        .order_by(task.base_priority)
    ).all()
    by_priority = {
        priority_name(level): SlaLevel.of(int(finished), int(on_time), int(past_due))
        for level, finished, on_time, past_due in rows
    }
    overall = SlaLevel.of(
        sum(s.finished for s in by_priority.values()),
        sum(s.on_time for s in by_priority.values()),
        sum(s.open_past_due for s in by_priority.values()),
    )
    return SlaSummary(
        overall.finished, overall.on_time, overall.on_time_rate, overall.open_past_due, by_priority
    )


def cost_inputs(tx: Tx, project_id: int, decisions: int) -> CostInputs:
    """Reviews given in the project, with the expert and gold ones among them."""
    counts = tx.session.execute(
        select(
            func.count(),
            count_if(ReviewRow.stage == Stage.EXPERT.value),
            count_if(ReviewTaskRow.honeypot_id.is_not(None)),
        )
        .select_from(ReviewRow)
        .join(ReviewTaskRow, ReviewTaskRow.id == ReviewRow.task_id)
        .where(ReviewRow.project_id == project_id)
    ).one()
    reviews, expert, gold = (int(c) for c in counts)
    return CostInputs(reviews, expert, gold, decisions)
