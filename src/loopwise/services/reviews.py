"""Use cases of the review queue: list it, claim the next task under a lease, keep the lease
alive, give a task back, and read an item's reviews (blind while the item is open).

Verdicts, undo and resolution are in :mod:`loopwise.services.verdicts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from loopwise.core.entities import Project, QueueEntry, Review, ReviewTask
from loopwise.core.enums import Priority, Role, Stage, TaskStatus
from loopwise.core.review import ReviewConfig
from loopwise.errors import InvalidInput, LeaseExpired, LimitReached, NotTaskHolder, TaskNotFound
from loopwise.queue.priority import catch_up
from loopwise.services.claim_keys import check_key, refused
from loopwise.services.context import Context, Tx
from loopwise.services.gold import serve_gold
from loopwise.services.reviewers import Access, access, check_name, checked_access
from loopwise.services.tasks import give_back, return_to_queue
from loopwise.store import mappers
from loopwise.store import queue as q
from loopwise.store.people import people
from loopwise.store.tables import ItemRow, ProjectRow, ReviewRow, ReviewTaskRow


def lease_seconds(ctx: Context, config: ReviewConfig) -> int:
    """The project's lease length, or the installation's (``LOOPWISE_LEASE_SECONDS``)."""
    return config.lease_seconds or ctx.settings.lease_seconds


def entry(tx: Tx, task: ReviewTask, shown: Mapping[str, Any]) -> QueueEntry:
    """What the holder of ``task`` sees (``shown``: the columns of
    :func:`loopwise.store.queue.shown_with`). Earlier reviews only on expert tasks."""
    item, prediction, reasons = mappers.shown(shown)
    earlier: tuple[Review, ...] = ()
    if task.stage is Stage.EXPERT:
        earlier = tuple(
            mappers.review(r)
            for r in tx.session.scalars(
                select(ReviewRow).where(ReviewRow.item_id == item.id).order_by(ReviewRow.id)
            )
        )
    return QueueEntry(
        task=task, item=item, prediction=prediction, reasons=reasons, earlier_reviews=earlier
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
        return [
            entry(tx, mappers.task(row), q.shown_with(tx.session, row.item_id))
            for row in rows.all()
        ]


def held_by(ctx: Context, project_name: str, reviewer: str) -> list[QueueEntry]:
    """The tasks ``reviewer`` holds in the project under a live lease, oldest claim first: a
    page that was reloaded or a client that restarted picks them up again instead of waiting
    for their leases to lapse."""
    reviewer = check_name(reviewer)
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        rows = tx.session.scalars(
            select(ReviewTaskRow)
            .where(
                ReviewTaskRow.project_id == project.id,
                ReviewTaskRow.claimed_by == reviewer,
                ReviewTaskRow.status == TaskStatus.CLAIMED.value,
                ReviewTaskRow.lease_expires_at > tx.now,
            )
            .order_by(ReviewTaskRow.claimed_at, ReviewTaskRow.id)
        ).all()
        return [entry(tx, mappers.task(row), q.shown_with(tx.session, row.item_id)) for row in rows]


def expire_leases(tx: Tx, project_id: int) -> int:
    """Return tasks whose lease lapsed to the queue (gold tasks are withdrawn instead)."""
    rows = q.lapsed(tx.session, project_id, tx.now)
    for task in rows:
        holder = task.claimed_by
        return_to_queue(task)
        tx.audit(
            actor="system",
            action="task.lease_expired",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project_id,
            before={"claimed_by": holder},
        )
    tx.session.flush()
    return len(rows)


def age_tasks(tx: Tx, project_id: int, ageing_minutes: int | None) -> int:
    """Move up every waiting task whose time at its level is up (as many levels as are due)."""
    rows = q.due_for_ageing(tx.session, project_id, tx.now)
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
            project_id=project_id,
            before={"priority": before},
            after={"priority": task.priority},
        )
    tx.session.flush()
    return len(rows)


def _check_limits(who: Access, held: int, done_today: int | None) -> None:
    if held >= who.max_open_tasks:
        raise LimitReached(
            f"{who.name!r} holds {held} tasks, their limit; finish or release one first",
            field="reviewer",
        )
    if who.daily_limit is not None and (done_today or 0) >= who.daily_limit:
        raise LimitReached(
            f"{who.name!r} gave {done_today} verdicts today, their daily limit",
            field="reviewer",
        )


def claim_next(
    ctx: Context,
    project_name: str,
    reviewer: str,
    *,
    stage: Stage | None = None,
    claim_key: str | None = None,
) -> QueueEntry | None:
    """Hand ``reviewer`` the best task they may take, under a lease; ``None`` if none is left.

    Experts are served expert tasks first, then review tasks; reviewers only review tasks.
    A task is served only to a reviewer who holds every tag it requires, and never to one who
    already answered, skipped or escalated its item. With a project ``gold_rate``, that share
    of claims is a gold item instead, served exactly like any other task (only while real
    review work is waiting: gold is mixed into work, never served alone).

    The usual claim is three statements: the checks (project, person, membership, limits,
    and whether any lease lapsed or task is due to age: those are then done first), the pick
    that takes the task, and what the reviewer sees.

    With a ``claim_key`` (see :mod:`loopwise.services.claim_keys`) the task keeps the key, and
    :func:`~loopwise.services.claim_keys.release_claims` gives it back by key; a claim whose
    key was given back already takes nothing (``None``).

    Raises ``NotAllowed`` (not a member, deactivated, a reviewer asking for expert work),
    ``LimitReached`` (too many tasks held, or the daily limit), ``ReviewerNotFound``,
    ``InvalidInput`` (``claim_key``).
    """
    reviewer = check_name(reviewer)
    if claim_key is not None:
        check_key(claim_key)
    with ctx.write() as tx:
        found = people(tx.session, project_name, reviewer, now=tx.now)
        who = checked_access(tx, project_name, reviewer, found)
        assert found is not None
        stages = who.stages(None if stage is None else Stage(stage))
        project = who.project(ctx, tx)
        if claim_key is not None and refused(tx, reviewer, claim_key):
            return None
        if found["lapsed"]:
            expire_leases(tx, project.id)
        _check_limits(who, found["held"], found["done_today"])
        if found["due"]:
            age_tasks(tx, project.id, project.review.ageing_minutes)
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
            gold = serve_gold(ctx, tx, project, reviewer, expires, claim_key)
            if gold is not None:
                task = mappers.task(gold)
                _claimed(tx, project.id, task, expires)
                return entry(tx, task, q.shown_with(tx.session, gold.item_id))
        tx.write_audit()  # lapsed leases and ageing first: the claim writes its own event
        for wanted in stages:
            claimed = q.claim_best(
                tx.session, project.id, wanted, reviewer, who.tag_keys, tx.now, expires, claim_key
            )
            if claimed is not None:
                task = mappers.task_columns(claimed)
                event = _claimed(tx, project.id, task, expires)
                if claimed["audited"]:
                    tx.wrote(event)
                return entry(tx, task, claimed)
        return None


def _claimed(tx: Tx, project_id: int, task: ReviewTask, expires: datetime) -> dict[str, Any]:
    """The audit event of a claim (see :func:`loopwise.store.queue.claimed_audit`)."""
    assert task.claimed_by is not None
    return tx.audit(
        actor=task.claimed_by,
        action="task.claimed",
        entity_type="review_task",
        entity_id=task.id,
        project_id=project_id,
        after=q.claimed_audit(expires),
    )


@dataclass(frozen=True)
class Holding:
    """A task its holder is about to judge, locked, with what the verdict needs to know."""

    task: Mapping[str, Any]
    """The task's columns by name (as read, before this use case changed anything)."""
    suggestion: str | None
    """The model's latest prediction for the item."""
    gold: str | None
    """The known answer, on a gold task."""
    external_id: str
    item_status: str
    answered: int
    """Answers the task had before this verdict."""
    decision: dict[str, Any] | None
    """What the item's decision said (``final_label``, ``route``); ``None`` without one."""

    @property
    def task_id(self) -> int:
        return int(self.task["id"])

    @property
    def item_id(self) -> int:
        return int(self.task["item_id"])

    def row(self, tx: Tx) -> ReviewTaskRow:
        """The task as an ORM row, for the use cases that change it through the session."""
        row = tx.session.get(ReviewTaskRow, self.task_id)
        assert row is not None
        return row


def holding(
    tx: Tx, project: Project, task_id: int, reviewer: str, found: Mapping[str, Any] | None = None
) -> Holding:
    """The task ``reviewer`` holds under a live lease, locked, with the item's suggestion, gold
    answer, external id and decision (one query; ``found``: its row, read already with the
    reviewer by :func:`loopwise.store.queue.held_with`).

    Raises ``TaskNotFound`` (no such task in the project), ``NotTaskHolder`` (resolved,
    escalated, withdrawn or held by someone else) or ``LeaseExpired``.
    """
    check_task_id(task_id)
    if found is None:
        found = q.held_with(tx.session, task_id)
    if found is None or found["task_project_id"] != project.id:
        raise TaskNotFound(f"no review task {task_id} in project {project.name!r}", field="task_id")
    status = found["task_status"]
    if status != TaskStatus.CLAIMED.value or found["task_claimed_by"] != reviewer:
        state = {
            TaskStatus.DONE.value: "is resolved",
            TaskStatus.ESCALATED.value: "was escalated",
            TaskStatus.CANCELLED.value: "was withdrawn",
        }.get(status, "is not held by you")
        raise NotTaskHolder(f"task {task_id} {state}", field="task_id")
    expires = found["task_lease_expires_at"]
    assert expires is not None
    if expires <= tx.now:
        raise LeaseExpired(
            f"your lease on task {task_id} expired at {expires.isoformat()}", field="task_id"
        )
    route = found["decision_route"]
    return Holding(
        task={name: found[f"task_{name}"] for name in q.TASK_COLUMNS},
        suggestion=found["suggestion"],
        gold=found["gold"],
        external_id=found["external_id"],
        item_status=found["item_status"],
        answered=found["answered"],
        decision=None
        if route is None
        else {"final_label": found["decision_final_label"], "route": route},
    )


def check_task_id(task_id: object) -> int:
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise InvalidInput("must be a task id (a whole number)", field="task_id")
    return task_id


def heartbeat(ctx: Context, project_name: str, task_id: int, reviewer: str) -> datetime:
    """Renew the lease on a held task (call it while the task is on screen); the new expiry."""
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        project = access(tx, project_name, reviewer).project(ctx, tx)
        held = holding(tx, project, task_id, reviewer)
        expires = tx.now + timedelta(seconds=lease_seconds(ctx, project.review))
        tx.session.execute(
            update(ReviewTaskRow)
            .where(ReviewTaskRow.id == held.task_id)
            .values(lease_expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        return expires


def release(ctx: Context, project_name: str, task_id: int, reviewer: str) -> None:
    """Give a held task back to the queue (a gold task is withdrawn instead)."""
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        project = access(tx, project_name, reviewer).project(ctx, tx)
        give_back(tx, holding(tx, project, task_id, reviewer).row(tx), reviewer)


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
            who = access(tx, project.name, viewer)
            still_open = tx.repo.open_tasks_for([item_id])
            if who.role is Role.REVIEWER and still_open:
                query = query.where(ReviewRow.reviewer == viewer)
        return [mappers.review(r) for r in tx.session.scalars(query)]
