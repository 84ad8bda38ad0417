"""Use cases of the review queue: list it, claim the next task under a lease, keep the lease
alive, give a task back, and read an item's reviews (blind while the item is open).

Verdicts, undo and resolution are in :mod:`loopwise.services.verdicts`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from loopwise.core.entities import QueueEntry, Review
from loopwise.core.enums import Priority, Role, Stage, TaskStatus
from loopwise.core.review import ReviewConfig
from loopwise.errors import InvalidInput, LeaseExpired, LimitReached, NotTaskHolder, TaskNotFound
from loopwise.queue.priority import catch_up
from loopwise.services.context import Context, Tx
from loopwise.services.gold import serve_gold
from loopwise.services.reviewers import Access, access, check_name
from loopwise.services.tasks import return_to_queue
from loopwise.store import mappers
from loopwise.store import queue as q
from loopwise.store.tables import (
    DecisionRow,
    ItemRow,
    PredictionRow,
    ProjectRow,
    ReviewRow,
    ReviewTaskRow,
)


def lease_seconds(ctx: Context, config: ReviewConfig) -> int:
    """The project's lease length, or the installation's (``LOOPWISE_LEASE_SECONDS``)."""
    return config.lease_seconds or ctx.settings.lease_seconds


def entry(tx: Tx, task: ReviewTaskRow) -> QueueEntry:
    """What the holder of ``task`` sees. Earlier reviews only on expert tasks.

    The item, its latest prediction and its decision's reasons come in one query: this runs on
    every claim, where each round trip counts.
    """
    latest = (
        select(func.max(PredictionRow.id))
        .where(PredictionRow.item_id == ItemRow.id)
        .correlate(ItemRow)
        .scalar_subquery()
    )
    found = tx.session.execute(
        select(ItemRow, PredictionRow, DecisionRow.reasons)
        .outerjoin(PredictionRow, PredictionRow.id == latest)
        .outerjoin(DecisionRow, DecisionRow.item_id == ItemRow.id)
        .where(ItemRow.id == task.item_id)
    ).one()
    item, prediction, reasons = found
    earlier: tuple[Review, ...] = ()
    if task.stage == Stage.EXPERT.value:
        earlier = tuple(
            mappers.review(r)
            for r in tx.session.scalars(
                select(ReviewRow).where(ReviewRow.item_id == item.id).order_by(ReviewRow.id)
            )
        )
    return QueueEntry(
        task=mappers.task(task),
        item=mappers.item(item),
        prediction=None if prediction is None else mappers.prediction(prediction),
        reasons=() if reasons is None else tuple(reasons),
        earlier_reviews=earlier,
    )


def list_queue(
    ctx: Context, project_name: str, *, stage: Stage | None = None, limit: int = 50, offset: int = 0
) -> list[QueueEntry]:
    """Open and held tasks in the order they are served: level, then score, then age.

    Levels shown are as of the last claim (ageing is applied when tasks are claimed).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput("must be between 1 and 1000", field="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput("must be a whole number, 0 or more", field="offset")
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        rows = tx.session.scalars(q.queue_query(project.id, stage).offset(offset).limit(limit))
        return [entry(tx, row) for row in rows.all()]


def expire_leases(tx: Tx, project: ProjectRow) -> int:
    """Return tasks whose lease lapsed to the queue (gold tasks are withdrawn instead)."""
    rows = q.lapsed(tx.session, project.id, tx.now)
    for task in rows:
        holder = task.claimed_by
        return_to_queue(task)
        tx.audit(
            actor="system",
            action="task.lease_expired",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project.id,
            before={"claimed_by": holder},
        )
    tx.session.flush()
    return len(rows)


def age_tasks(tx: Tx, project: ProjectRow, ageing_minutes: int | None) -> int:
    """Move up every waiting task whose time at its level is up (as many levels as are due)."""
    rows = q.due_for_ageing(tx.session, project.id, tx.now)
    for task in rows:
        assert task.promote_at is not None
        aged = catch_up(Priority(task.priority), task.promote_at, tx.now, ageing_minutes)
        before = task.priority
        task.priority = int(aged.priority)
        task.promote_at = aged.promote_at
        tx.audit(
            actor="system",
            action="task.aged",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project.id,
            before={"priority": before},
            after={"priority": task.priority},
        )
    tx.session.flush()
    return len(rows)


def _check_limits(tx: Tx, who: Access) -> None:
    held = q.held_count(tx.session, who.row.name, tx.now)
    if held >= who.row.max_open_tasks:
        raise LimitReached(
            f"{who.row.name!r} holds {held} tasks, their limit; finish or release one first",
            field="reviewer",
        )
    if who.row.daily_limit is not None:
        midnight = tx.now.replace(hour=0, minute=0, second=0, microsecond=0)
        done = q.reviews_since(tx.session, who.row.name, midnight)
        if done >= who.row.daily_limit:
            raise LimitReached(
                f"{who.row.name!r} gave {done} verdicts today, their daily limit",
                field="reviewer",
            )


def claim_next(
    ctx: Context, project_name: str, reviewer: str, *, stage: Stage | None = None
) -> QueueEntry | None:
    """Hand ``reviewer`` the best task they may take, under a lease; ``None`` if none is left.

    Experts are served expert tasks first, then review tasks; reviewers only review tasks.
    A task is served only to a reviewer who holds every tag it requires, and never to one who
    already answered, skipped or escalated its item. With a project ``gold_rate``, that share
    of claims is a gold item instead, served exactly like any other task (only while real
    review work is waiting: gold is mixed into work, never served alone).

    Raises ``NotAllowed`` (not a member, deactivated, a reviewer asking for expert work),
    ``LimitReached`` (too many tasks held, or the daily limit), ``ReviewerNotFound``.
    """
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        project_row = tx.repo.project_by_name(project_name)
        project = mappers.project(project_row)
        who = access(tx, project_row, reviewer)
        stages = who.stages(None if stage is None else Stage(stage))
        expire_leases(tx, project_row)
        _check_limits(tx, who)
        age_tasks(tx, project_row, project.review.ageing_minutes)
        expires = tx.now + timedelta(seconds=lease_seconds(ctx, project.review))
        rate = project.review.gold_rate
        if (
            Stage.REVIEW in stages
            and rate > 0
            and ctx.random.random() < rate
            and q.next_claimable(
                tx.session, project.id, Stage.REVIEW, reviewer, who.tag_keys, lock=False
            )
            is not None
        ):
            gold = serve_gold(ctx, tx, project, reviewer, expires)
            if gold is not None:
                return _claimed(tx, project_row, gold, reviewer, expires)
        for wanted in stages:
            for _ in range(5):
                row = q.next_claimable(tx.session, project.id, wanted, reviewer, who.tag_keys)
                if row is None:
                    break
                if q.claim(tx.session, row.id, reviewer, tx.now, expires):
                    tx.session.refresh(row)
                    return _claimed(tx, project_row, row, reviewer, expires)
        return None


def _claimed(
    tx: Tx, project: ProjectRow, row: ReviewTaskRow, reviewer: str, expires: datetime
) -> QueueEntry:
    tx.audit(
        actor=reviewer,
        action="task.claimed",
        entity_type="review_task",
        entity_id=row.id,
        project_id=project.id,
        after={"lease_expires_at": expires.isoformat()},
    )
    return entry(tx, row)


def held_task(tx: Tx, project: ProjectRow, task_id: int, reviewer: str) -> ReviewTaskRow:
    """The task ``reviewer`` holds under a live lease, locked; refused otherwise."""
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise InvalidInput("must be a task id (a whole number)", field="task_id")
    task = tx.repo.task(task_id, lock=True)
    if task is None or task.project_id != project.id:
        raise TaskNotFound(f"no review task {task_id} in project {project.name!r}", field="task_id")
    if task.status != TaskStatus.CLAIMED.value or task.claimed_by != reviewer:
        state = {
            TaskStatus.DONE.value: "is resolved",
            TaskStatus.ESCALATED.value: "was escalated",
            TaskStatus.CANCELLED.value: "was withdrawn",
        }.get(task.status, "is not held by you")
        raise NotTaskHolder(f"task {task_id} {state}", field="task_id")
    assert task.lease_expires_at is not None
    if task.lease_expires_at <= tx.now:
        raise LeaseExpired(
            f"your lease on task {task_id} expired at {task.lease_expires_at.isoformat()}",
            field="task_id",
        )
    return task


def heartbeat(ctx: Context, project_name: str, task_id: int, reviewer: str) -> datetime:
    """Renew the lease on a held task (call it while the task is on screen); the new expiry."""
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        project = tx.repo.project_by_name(project_name)
        access(tx, project, reviewer)
        task = held_task(tx, project, task_id, reviewer)
        config = ReviewConfig.from_json(project.review)
        task.lease_expires_at = tx.now + timedelta(seconds=lease_seconds(ctx, config))
        tx.session.flush()
        return task.lease_expires_at


def release(ctx: Context, project_name: str, task_id: int, reviewer: str) -> None:
    """Give a held task back to the queue (a gold task is withdrawn instead)."""
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        project = tx.repo.project_by_name(project_name)
        access(tx, project, reviewer)
        task = held_task(tx, project, task_id, reviewer)
        return_to_queue(task)
        tx.session.flush()
        tx.audit(
            actor=reviewer,
            action="task.released",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project.id,
        )


def reviews_of_item(ctx: Context, item_id: int, *, viewer: str | None = None) -> list[Review]:
    """An item's reviews. Review is blind: while the item has an open task, a ``viewer`` who
    is a plain reviewer sees only their own; experts and admins (and the library, with no
    ``viewer``) see all."""
    with ctx.read() as tx:
        query = select(ReviewRow).where(ReviewRow.item_id == item_id).order_by(ReviewRow.id)
        if viewer is not None:
            item = tx.session.get(ItemRow, item_id)
            if item is None:
                return []
            project = tx.session.get(ProjectRow, item.project_id)
            assert project is not None
            who = access(tx, project, viewer)
            still_open = tx.repo.open_tasks_for([item_id])
            if who.role is Role.REVIEWER and still_open:
                query = query.where(ReviewRow.reviewer == viewer)
        return [mappers.review(r) for r in tx.session.scalars(query)]
